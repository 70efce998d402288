"""Landlock: the `holes` allow-list hides paths by leaving them out; the `wall` domain keeps a command
out of other processes' /proc entries, signals and mounts."""

from __future__ import annotations

import os
from pathlib import Path

from agent.sandbox import landlock, syscalls
from tests.agent.sandbox.helpers import need, run_in


def _enter(ruleset: landlock.Ruleset) -> None:
    syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    ruleset.restrict_self()


def test_abi_is_known() -> None:
    need(landlock.abi_version() > 0, "Landlock")
    assert landlock.fs_rights(1) == (1 << 13) - 1
    assert landlock.fs_rights(7) & landlock.IOCTL_DEV and landlock.fs_rights(7) & landlock.REFER


def test_holes_hide_a_folder_and_leave_its_neighbours(tmp_path: Path) -> None:
    need(landlock.abi_version() > 0, "Landlock")
    hidden = tmp_path / "home" / ".local" / "share" / "rme"
    (hidden / "vault").mkdir(parents=True)
    (hidden / "vault" / "session.json").write_text("lock")
    (hidden / "device.key").write_text("KEY-SECRET")
    docs = tmp_path / "home" / "Documents"
    docs.mkdir()
    (docs / "a.txt").write_text("neighbour")
    (tmp_path / "home" / ".bashrc").write_text("rc")
    ruleset = landlock.holes([hidden])
    try:
        done = run_in(
            lambda: _enter(ruleset),
            f"cat {hidden}/device.key; echo cat=$?; ls {hidden}; echo ls=$?; "
            f"rm -f {hidden}/vault/session.json; echo rm=$?; "
            f"cd {hidden}/vault && cat session.json; echo cd=$?; "
            f"cat {docs}/a.txt {tmp_path}/home/.bashrc; ls {docs}; echo ok; "
            f"ls {tmp_path}/home; echo ancestor=$?",
        )
    finally:
        ruleset.close()
    assert "KEY-SECRET" not in done.stdout and "lock" not in done.stdout and "device.key" not in done.stdout
    assert "cat=1" in done.stdout and "ls=2" in done.stdout and "rm=1" in done.stdout
    assert (hidden / "vault" / "session.json").read_text() == "lock"
    assert "neighbourrca.txt\nok\n" in done.stdout  # everything beside it works
    assert "ancestor=2" in done.stdout  # the documented cost: an ancestor cannot be listed


def test_holes_do_not_follow_a_link_back_into_an_ancestor(tmp_path: Path) -> None:
    need(landlock.abi_version() > 0, "Landlock")
    hidden = tmp_path / "home" / "data"
    hidden.mkdir(parents=True)
    (hidden / "secret").write_text("SECRET")
    (tmp_path / "home" / "shortcut").symlink_to(tmp_path / "home")
    (tmp_path / "elsewhere").symlink_to(hidden)
    ruleset = landlock.holes([hidden])
    try:
        done = run_in(
            lambda: _enter(ruleset),
            f"cat {tmp_path}/home/shortcut/data/secret {tmp_path}/elsewhere/secret",
        )
    finally:
        ruleset.close()
    assert "SECRET" not in done.stdout and done.returncode != 0


def test_the_wall_keeps_a_command_out_of_the_agents_proc_and_mounts(tmp_path: Path) -> None:
    need(landlock.abi_version() > 0, "Landlock")
    (tmp_path / "secret").write_text("SECRET")
    ruleset = landlock.wall()
    me = os.getpid()
    try:
        done = run_in(
            lambda: _enter(ruleset),
            f"cat {tmp_path}/secret; echo; cat /proc/{me}/root{tmp_path}/secret; echo proc=$?; "
            f"ls /proc/{me}/cwd/; echo cwd=$?; mount -t tmpfs x {tmp_path}; echo mount=$?",
        )
    finally:
        ruleset.close()
    lines = done.stdout.splitlines()
    assert lines[0] == "SECRET"  # the wall itself hides nothing: the mount namespace does that
    assert "proc=1" in lines and "cwd=2" in lines and "mount=32" in lines
    assert done.stdout.count("SECRET") == 1


def test_the_wall_stops_signals_to_the_agent() -> None:
    need(landlock.abi_version() >= 6, "Landlock ABI 6 (signal scoping)")
    ruleset = landlock.wall()
    try:
        script = f"kill -STOP {os.getpid()}; echo stop=$?; kill -0 $$; echo self=$?"
        done = run_in(lambda: _enter(ruleset), script)
    finally:
        ruleset.close()
    assert "stop=1" in done.stdout and "self=0" in done.stdout
