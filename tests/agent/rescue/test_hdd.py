"""The hard-disk edition: `rme-agent rescue install-hdd` from a real (tiny) ISO into a real ext4
file-system image on a loop device, the GRUB script run by Debian's grub-mkconfig against that root, and
`uninstall-hdd` leaving nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.rescue import hdd
from bench._loopfs import journaled_ext4, missing
from rescue.provision import empty_slot
from tests.lab.managed import require

ENTRY = 'menuentry "RME Rescue / 远程救援"'


def _tree(root: Path) -> Path:
    (root / "live").mkdir(parents=True)
    (root / "rme").mkdir()
    (root / "live/vmlinuz").write_bytes(b"kernel" * 1000)
    (root / "live/initrd.img").write_bytes(os.urandom(300_000))
    (root / "live/filesystem.squashfs").write_bytes(os.urandom(500_000))
    (root / "live/rme.squashfs").write_bytes(os.urandom(100_000))
    (root / "rme/provision.slot").write_bytes(empty_slot())
    return root


def _iso(tmp_path: Path) -> Path:
    tree = _tree(tmp_path / "tree")
    iso = tmp_path / "rescue.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", "RME_RESCUE", "-o", str(iso), str(tree)],
        check=True,
    )
    return iso


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "lost+found" not in p.parts}


def test_plan_and_script(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    root = tmp_path / "root"
    plan = hdd.plan_install(tree, root)
    names = sorted(str(i.dest.relative_to(root)) for i in plan.items)
    assert names == [
        "boot/rme-rescue/filesystem.squashfs",
        "boot/rme-rescue/initrd.img",
        "boot/rme-rescue/rme.squashfs",
        "boot/rme-rescue/rme/provision.slot",
        "boot/rme-rescue/vmlinuz",
    ]
    assert plan.script == root / "etc/grub.d/42_rme_rescue"
    assert "live-media-path=/boot/rme-rescue " in plan.script_text
    assert "search --no-floppy --set=root --file /boot/rme-rescue/vmlinuz" in plan.script_text
    assert ENTRY in plan.script_text
    assert any("/boot/rme-rescue/vmlinuz" in line for line in plan.describe())
    hdd.check_space(plan, 100 << 20)
    with pytest.raises(
        hdd.InstallError, match=r"not enough space for .*boot/rme-rescue: needs 18 MB, 10 MB free"
    ):
        hdd.check_space(plan, 10_000_000)
    (tree / "live/vmlinuz").unlink()
    with pytest.raises(hdd.InstallError, match="missing live/vmlinuz"):
        hdd.plan_install(tree, root)


def test_refused_without_consent_writes_nothing(tmp_path: Path) -> None:
    require(None if shutil.which("xorriso") else "needs xorriso")
    root = tmp_path / "root"
    root.mkdir()
    run = _cli(["install-hdd", "--iso", str(_iso(tmp_path)), "--root", str(root)], "no\n")
    assert run.returncode == 1 and "nothing was written" in run.stdout
    assert "/boot/rme-rescue/vmlinuz" in run.stdout  # the question named what and where
    assert list(root.iterdir()) == []


def _cli(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "rescue", *args, "--lang", "en"],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _grub_mkconfig(root: Path) -> str:
    """Debian's grub-mkconfig with this root's /etc/grub.d and /boot (private mount namespace)."""
    out = root / "boot/grub/grub.cfg"
    out.parent.mkdir(parents=True, exist_ok=True)
    script = (
        f"mount --bind {root}/etc/grub.d /etc/grub.d && mount --bind {root}/boot /boot && "
        "grub-mkconfig -o /boot/grub/grub.cfg"
    )
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], check=True, timeout=60
    )
    return out.read_text()


def test_install_into_an_ext4_image_then_uninstall(tmp_path: Path) -> None:
    require(missing())
    require(
        None if shutil.which("xorriso") and shutil.which("grub-mkconfig") else "needs xorriso, grub-common"
    )
    iso = _iso(tmp_path)
    with journaled_ext4(32, backing_dir=tmp_path) as root:
        (root / "etc/grub.d").mkdir(parents=True)
        (root / "boot").mkdir()
        shutil.copy2("/etc/grub.d/00_header", root / "etc/grub.d/00_header")  # a system's own GRUB scripts
        before = _files(root)
        stale = root / "boot/rme-rescue/old-version.squashfs"  # an earlier install's image: must not stack
        stale.parent.mkdir()
        stale.write_bytes(b"old")
        run = _cli(["install-hdd", "--iso", str(iso), "--root", str(root)], "yes\n")
        assert run.returncode == 0, run.stderr
        assert "Type yes or 是" in run.stdout and "Done." in run.stdout
        tree = _tree(tmp_path / "expected")
        for rel in ("live/vmlinuz", "live/initrd.img", "live/filesystem.squashfs", "live/rme.squashfs"):
            assert (root / "boot/rme-rescue" / Path(rel).name).read_bytes() != b""
        assert (root / "boot/rme-rescue/vmlinuz").read_bytes() == (tree / "live/vmlinuz").read_bytes()
        assert (root / "boot/rme-rescue/rme/provision.slot").read_bytes() == empty_slot()
        assert not stale.exists()
        script = root / "etc/grub.d/42_rme_rescue"
        assert os.access(script, os.X_OK)
        assert "live-media-path=/boot/rme-rescue" in script.read_text()

        cfg = _grub_mkconfig(root)
        assert ENTRY in cfg
        assert "linux /boot/rme-rescue/vmlinuz boot=live" in cfg
        assert "initrd /boot/rme-rescue/initrd.img" in cfg

        run = _cli(["uninstall-hdd", "--root", str(root)], "")
        assert run.returncode == 0, run.stderr
        assert ENTRY not in _grub_mkconfig(root)
        assert _files(root) == before | {"boot/grub", "boot/grub/grub.cfg"}


def test_the_rescue_agent_finds_the_slot_the_grub_entry_names() -> None:
    from agent.rescue.boot import SLOT, find_slot

    script = hdd.grub_script("/boot/rme-rescue")
    [line] = [x for x in script.splitlines() if x.strip().startswith("linux ")]
    assert find_slot(line) == Path("/run/live/medium/boot/rme-rescue/rme/provision.slot")
    assert find_slot("boot=live quiet") == SLOT
