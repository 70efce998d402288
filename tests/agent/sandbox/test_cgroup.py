"""A command's cgroup: found where /proc says, joined before exec, killed as one, emptied, removed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psutil

from agent.actions.command import wait_dead
from agent.sandbox.cgroup import (
    PREFIX,
    CgroupUnavailable,
    CommandCgroup,
    cgroup2_mount,
    cgroup_of,
    kill_path,
    own_cgroup,
    place,
    sweep,
)
from tests.agent.sandbox.helpers import need


def _place() -> Path:
    try:
        return place()
    except CgroupUnavailable as exc:
        need(False, f"writable cgroup v2 ({exc})")
        raise


def test_the_cgroup2_mount_is_found_wherever_it_is() -> None:
    hybrid = (
        "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
        "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
    )
    assert cgroup2_mount(hybrid) == Path("/sys/fs/cgroup/unified")
    assert cgroup2_mount("cgroup2 /odd\\040place cgroup2 rw 0 0\n") == Path("/odd place")
    assert cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n") is None
    assert own_cgroup("4:memory:/x\n0::/user.slice/app.scope\n") == "/user.slice/app.scope"
    assert own_cgroup("0::/\n") == "/"
    assert own_cgroup("1:name=systemd:/\n") is None


def test_a_process_joined_before_exec_is_killed_with_everything_it_started() -> None:
    group = CommandCgroup.create(_place())
    assert group.path.parent == _place() and group.path.name.startswith(f"{PREFIX}{os.getpid()}-")
    proc = subprocess.Popen(
        ["/bin/sh", "-c", "setsid sleep 300 & (sleep 300 &) ; sleep 300"],
        preexec_fn=group.join,  # noqa: PLW1509 - what the agent does; one os.write
        start_new_session=True,
    )
    group.close_fd()
    try:
        for _ in range(500):
            if len(group.pids()) >= 4:
                break
            time.sleep(0.01)
        members = [psutil.Process(pid) for pid in group.pids()]
        assert proc.pid in {p.pid for p in members} and len(members) >= 4
        assert cgroup_of(proc.pid) == group.path
        assert group.populated()
        assert sorted(group.kill()) == sorted(p.pid for p in members)
        assert wait_dead(members, 0.2) == []
    finally:
        proc.wait()
    assert group.wait_empty(2)
    assert group.remove() and not group.path.exists()


def test_sub_cgroups_a_command_made_are_killed_and_removed_too() -> None:
    group = CommandCgroup.create(_place())
    sub = group.path / "inner"
    proc = subprocess.Popen(
        ["/bin/sh", "-c", f"mkdir {sub} && echo $$ > {sub}/cgroup.procs && exec sleep 300"],
        preexec_fn=group.join,  # noqa: PLW1509 - what the agent does; one os.write
    )
    for _ in range(500):
        if cgroup_of(proc.pid) == sub:
            break
        time.sleep(0.01)
    assert cgroup_of(proc.pid) == sub
    assert proc.pid in group.kill()
    proc.wait()
    assert group.wait_empty(2) and group.remove() and not group.path.exists()


def test_a_dead_agents_cgroups_are_swept_and_a_live_ones_are_not() -> None:
    parent = _place()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs: "its" agent is dead
    orphan = parent / f"{PREFIX}{gone.pid}-1-test"
    alive = parent / f"{PREFIX}{os.getppid()}-1-test"  # pytest's parent: running
    orphan.mkdir()
    alive.mkdir()
    try:
        left = CommandCgroup(orphan, os.open(orphan / "cgroup.procs", os.O_WRONLY))
        proc = subprocess.Popen(["sleep", "300"], preexec_fn=left.join)  # noqa: PLW1509
        left.close_fd()
        assert sweep() >= 1
        assert proc.wait(timeout=2) == -9
        assert not orphan.exists() and alive.exists()
    finally:
        for path in (orphan, alive):
            if path.exists():
                path.rmdir()


def test_kill_path_touches_only_our_cgroups(tmp_path: Path) -> None:
    assert not kill_path(tmp_path)
    assert not kill_path(_place() / f"{PREFIX}does-not-exist")
