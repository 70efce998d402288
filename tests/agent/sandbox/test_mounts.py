"""The private mount namespace: hidden folders are empty and read-only for the command, untouched for
everyone else."""

from __future__ import annotations

import os
from pathlib import Path

from agent.sandbox import mounts
from agent.sandbox.mounts import MountPlan, Target, outermost
from tests.agent.sandbox.helpers import need, run_in


def test_outermost_keeps_one_mount_per_tree(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "vault").mkdir(parents=True)
    (tmp_path / "link").symlink_to(data)
    kept = outermost([data / "vault", tmp_path / "link", Path("/"), Path("relative"), tmp_path / "other"])
    assert kept == [data, tmp_path / "other"]


def _tree(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "vault").mkdir(parents=True)
    (data / "vault" / "session.json").write_text("LOCK")
    (data / "device.key").write_text("KEY")
    (tmp_path / "file.txt").write_text("FILE")
    return data


def _check(done_stdout: str, data: Path, tmp_path: Path) -> None:
    lines = done_stdout.splitlines()
    assert "KEY" not in lines and "LOCK" not in lines and "device.key" not in lines
    assert "list=" in lines  # listed empty
    assert "rm=1" in lines and "touch=1" in lines
    assert (data / "vault" / "session.json").read_text() == "LOCK"  # nothing happened outside
    assert sorted(p.name for p in data.iterdir()) == ["device.key", "vault"]
    assert not (tmp_path / "file.txt").exists() or (tmp_path / "file.txt").read_text() == "FILE"


SCRIPT = (
    "cat {d}/device.key {d}/vault/session.json; echo list=$(ls -A {d}); "
    "rm {d}/vault/session.json; echo rm=$?; touch {d}/new; echo touch=$?; cat {f}"
)


def test_root_hides_folders_in_its_own_namespace(tmp_path: Path) -> None:
    need(mounts.usable(), "mount namespace")
    data = _tree(tmp_path)
    plan = mounts.plan([data, tmp_path / "file.txt"])
    assert [t.is_dir for t in plan.targets] == [True, False]
    done = run_in(plan.enter, SCRIPT.format(d=data, f=tmp_path / "file.txt"))
    _check(done.stdout, data, tmp_path)
    assert "FILE" not in done.stdout  # a hidden file reads as /dev/null (and may not even be opened)


def test_the_user_namespace_path_works_too(tmp_path: Path) -> None:
    """What an agent run by an ordinary user does (here with our own ids, whatever they are)."""
    need(mounts.usable(), "mount namespace")
    data = _tree(tmp_path)
    plan = MountPlan((Target(os.fsencode(data), True),), True, os.getuid(), os.getgid())
    script = SCRIPT.format(d=data, f=tmp_path / "file.txt") + "; echo; cat /proc/self/uid_map"
    done = run_in(plan.enter, script)
    _check(done.stdout, data, tmp_path)
    assert f"{os.getuid()} {os.getuid()} 1".split() == done.stdout.splitlines()[-1].split()
