"""A command started with the vault and the data dir: it runs where they do not exist — whatever way
it spells the path — and cannot get at them through another process or by undoing the sandbox."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from agent.actions.command import finish_command, paths_to_hide, start_command, wait_dead
from agent.sandbox import landlock, mounts
from agent.sandbox.cgroup import CgroupUnavailable, CommandCgroup, cgroup2_mounts, place
from tests.agent.sandbox.helpers import need
from tests.agent.vault.helpers import PASSPHRASE, fast_vault


def b64(path: Path) -> str:
    """The path as a shell expression the request check cannot read."""
    return f"$(echo {base64.b64encode(str(path).encode()).decode()} | base64 -d)"


async def test_vault_and_data_dir_do_not_exist_for_a_command(tmp_path: Path) -> None:
    need(mounts.usable() or landlock.abi_version() > 0, "mount namespace or Landlock")
    data = tmp_path / "agent"
    vault = fast_vault(data)
    private = tmp_path / "Private"
    private.mkdir()
    (private / "diary-LISTED.txt").write_text("DIARY-SECRET")
    vault.add(private)
    vault.open(PASSPHRASE)  # even an *open* folder is hidden from a command
    (data / "device-LISTED.key").write_text("KEY-SECRET")
    meta = vault.layout.meta.read_bytes()
    command = "; ".join(
        [
            f"cat {b64(private)}/* {b64(data)}/*",
            f"ls -A {b64(private)}",
            f"ls -AR {b64(data)}",
            f"find {b64(tmp_path)}",
            f"cat {b64(vault.layout.meta)}",
            f"rm -rf {b64(data / 'vault')} {b64(private)}",
            f"cat /proc/{os.getpid()}/root{b64(private)}/* /proc/{os.getpid()}/root{b64(data)}/*",
            f"cd {b64(data)} && ls -A && cat vault/vault.json",
            "echo finished",
        ]
    )
    running = await start_command(command, cwd=tmp_path, vault=vault, data_dir=data)
    outcome = await finish_command(running, 30)
    assert running.sandbox in ("namespace+landlock", "namespace", "landlock")
    assert outcome.output.endswith("finished\n")
    for secret in ("DIARY-SECRET", "KEY-SECRET", "LISTED", meta[:40].decode()):
        assert secret not in outcome.output, (secret, outcome.output)
    # Nothing it tried changed anything: the metadata, the open folder, the data dir.
    assert vault.layout.meta.read_bytes() == meta
    assert (private / "diary-LISTED.txt").read_text() == "DIARY-SECRET"
    assert (data / "device-LISTED.key").read_text() == "KEY-SECRET"


async def test_a_command_cannot_uncover_what_is_hidden(tmp_path: Path) -> None:
    need(mounts.usable() and landlock.abi_version() > 0, "mount namespace and Landlock")
    data = tmp_path / "agent"
    data.mkdir()
    (data / "device.key").write_text("KEY-SECRET")
    command = (
        f"umount {data}; umount -l {data}; mount --bind / /mnt; mount -t tmpfs x {tmp_path}; "
        f"unshare -m sh -c 'umount {data}; cat {data}/device.key'; "
        f"nsenter -t {os.getpid()} -m cat {data}/device.key; cat {data}/device.key; echo finished"
    )
    running = await start_command(command, vault=None, data_dir=data)
    outcome = await finish_command(running, 30)
    assert outcome.output.endswith("finished\n")
    assert "KEY-SECRET" not in outcome.output


async def test_nothing_to_hide_means_no_sandbox_mode(tmp_path: Path) -> None:
    running = await start_command(f"ls {tmp_path}")
    await finish_command(running, 10)
    assert running.sandbox == "none"


def test_what_is_hidden(tmp_path: Path, monkeypatch: object) -> None:
    data = tmp_path / "agent"
    vault = fast_vault(data)
    private = tmp_path / "Private"
    private.mkdir()
    vault.add(private)
    hidden = paths_to_hide(vault, data)
    assert data in hidden and private in hidden and vault.layout.root in hidden
    assert paths_to_hide(None, None) == []
    # A vault whose metadata cannot be read still hides the data dir (its store lives there).
    vault.layout.meta.write_text("{not json")
    assert data in paths_to_hide(vault, data)


async def test_a_working_directory_inside_a_hidden_folder_is_not_a_way_in(tmp_path: Path) -> None:
    """The shell would start inside the real folder (chdir happens before the mounts): the child looks
    the directory up again through the new mounts, finds nothing, and the command does not run."""
    need(mounts.usable(), "mount namespace")
    data = tmp_path / "agent"
    (data / "logs").mkdir(parents=True)
    (data / "device.key").write_text("KEY-SECRET")
    marker = tmp_path / "ran"
    before = set(os.listdir(place()))
    with pytest.raises(subprocess.SubprocessError):
        await start_command(f"cat ../device.key; touch {marker}", cwd=data / "logs", data_dir=data)
    assert not marker.exists()
    made = set(os.listdir(place())) - before
    assert not [p for p in made if p.startswith(f"rme-cmd-{os.getpid()}-")]  # its cgroup was removed


async def test_without_namespaces_landlock_holes_hide_the_same_things(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback an ordinary user gets where unprivileged user namespaces are off."""
    need(landlock.abi_version() > 0, "Landlock")
    monkeypatch.setattr(mounts, "usable", lambda: False)
    data = tmp_path / "agent"
    (data / "vault").mkdir(parents=True)
    (data / "vault" / "session.json").write_text("LOCK-LISTED")
    command = (
        f"ls -A {b64(data)} {b64(data / 'vault')}; cat {b64(data)}/vault/*; rm -rf {b64(data / 'vault')}; "
        f"echo $$ > {cgroup2_mounts()[0]}/cgroup.procs; cat /etc/hostname >/dev/null && echo finished"
    )
    running = await start_command(command, vault=None, data_dir=data)
    outcome = await finish_command(running, 30)
    assert running.sandbox == "landlock"
    assert outcome.output.endswith("finished\n"), outcome.output
    assert "LISTED" not in outcome.output and "session.json" not in outcome.output
    assert (data / "vault" / "session.json").read_text() == "LOCK-LISTED"
    assert running.cgroup is not None and not running.cgroup.path.exists()


async def test_without_a_cgroup_the_command_still_runs_in_its_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented fallback (a cgroup the user does not own): the tree dies, escapes would not."""

    def unavailable(parent: Path | None = None) -> CommandCgroup:
        raise CgroupUnavailable("not delegated (test)")

    monkeypatch.setattr(CommandCgroup, "create", unavailable)
    running = await start_command("sleep 300 & sleep 300; wait")
    assert running.cgroup is None
    await asyncio.sleep(0.2)
    family = [psutil.Process(running.pid), *psutil.Process(running.pid).children(recursive=True)]
    assert len(family) >= 3
    running.kill()
    assert wait_dead(family, 0.5) == []
    await finish_command(running, 5)
