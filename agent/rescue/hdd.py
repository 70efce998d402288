"""The hard-disk edition ("硬盘版"): the rescue system's kernel, initrd and squashfs images under
`/boot/rme-rescue/`, and a GRUB entry "RME Rescue / 远程救援" that boots them with live-boot.

Pure parts: `plan_install` (what goes where), `grub_script` (the /etc/grub.d script). I/O: reading the
files out of an ISO (`xorriso -osirrox`) or a folder, copying them, regenerating GRUB's config.
`root` is the system's root (a test installs into a mounted file-system image).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agent.rescue import chroot

TARGET = "boot/rme-rescue"
GRUB_SCRIPT = "etc/grub.d/42_rme_rescue"
SLOT = "rme/provision.slot"
MARKER = "# rme-rescue: written by `rme-agent rescue install-hdd`; `uninstall-hdd` removes it"
# The same arguments as the CD/USB image (rescue/image.py KERNEL_ARGS): `nonetworking` skips
# live-boot's ifupdown set-up, which the image does not carry and which re-settled udev for ~12 s.
KERNEL_ARGS = (
    "boot=live quiet loglevel=3 systemd.show_status=0 console=tty0 console=ttyS0,115200n8 "
    "net.ifnames=0 nonetworking"
)


class InstallError(RuntimeError):
    """The source has no rescue system, or a step failed; nothing half-installed is left."""


@dataclass(frozen=True)
class Item:
    source: Path
    dest: Path  # absolute, under root
    size: int


@dataclass(frozen=True)
class Plan:
    root: Path
    items: tuple[Item, ...]
    script: Path
    script_text: str

    @property
    def target(self) -> Path:
        return self.root / TARGET

    def describe(self) -> list[str]:
        lines = [f"  {item.dest}  ({item.size / 1e6:.1f} MB)" for item in self.items]
        return [*lines, f"  {self.script}  (GRUB)"]


def media_path(root: Path) -> str:
    """The folder as GRUB and live-boot see it on its partition: `/rme-rescue` when /boot is its own."""
    boot = root / "boot"
    return "/rme-rescue" if os.path.ismount(boot) and boot.resolve() != root.resolve() else "/" + TARGET


def grub_script(path: str) -> str:
    """/etc/grub.d/42_rme_rescue: prints the menu entry; `path` is the folder on its partition."""
    return f"""#!/bin/sh
{MARKER}
set -e
cat <<'EOF'
menuentry "RME Rescue / 远程救援" --class rescue {{
  insmod part_msdos
  insmod part_gpt
  insmod ext2
  search --no-floppy --set=root --file {path}/vmlinuz
  linux {path}/vmlinuz {KERNEL_ARGS} live-media-path={path} rme.slot={path}/{SLOT}
  initrd {path}/initrd.img
}}
EOF
"""


def plan_install(files: Path, root: Path) -> Plan:
    """`files` holds live/vmlinuz, live/initrd.img, live/*.squashfs and (optionally) rme/provision.slot."""
    live = files / "live"
    needed = [live / "vmlinuz", live / "initrd.img"]
    squashfs = sorted(live.glob("*.squashfs"))
    missing = [p.name for p in needed if not p.is_file()] + ([] if squashfs else ["*.squashfs"])
    if missing:
        raise InstallError(f"not a rescue image (missing live/{', live/'.join(missing)})")
    target = root / TARGET
    items = [Item(p, target / p.name, p.stat().st_size) for p in [*needed, *squashfs]]
    slot = files / SLOT
    if slot.is_file():
        items.append(Item(slot, target / SLOT, slot.stat().st_size))
    return Plan(root, tuple(items), root / GRUB_SCRIPT, grub_script(media_path(root)))


@contextmanager
def source_files(source: Path) -> Iterator[Path]:
    """A folder (an unpacked image) as it is; an ISO's live/ and rme/ read out with xorriso."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise InstallError(f"no such image: {source}")
    if shutil.which("xorriso") is None:
        raise InstallError("reading an ISO needs xorriso")
    with tempfile.TemporaryDirectory(prefix="rme-rescue-") as tmp:
        out = Path(tmp)
        run = subprocess.run(
            [
                *("xorriso", "-osirrox", "on", "-indev", str(source)),
                *("-extract", "/live", str(out / "live"), "-extract", "/rme", str(out / "rme")),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if not (out / "live").is_dir():
            raise InstallError(
                f"cannot read {source}: {run.stderr.strip().splitlines()[-1:] or run.returncode}"
            )
        yield out


def check_space(plan: Plan, free: int) -> None:
    """Refuse before writing when the file system holding /boot lacks room (16 MiB to spare)."""
    need = sum(item.size for item in plan.items) + (16 << 20)
    if free < need:
        raise InstallError(
            f"not enough space for {plan.target}: needs {need / 1e6:.0f} MB, {free / 1e6:.0f} MB free"
        )


def _free(plan: Plan) -> int:
    probe = plan.target
    while not probe.exists():
        probe = probe.parent
    old = sum(p.stat().st_size for p in plan.target.rglob("*") if p.is_file()) if plan.target.is_dir() else 0
    return shutil.disk_usage(probe).free + old  # a reinstall replaces the old files


def install(plan: Plan) -> None:
    """Copy every file (via .part, fsynced), then the GRUB script; on failure remove what was written.

    A folder left by an earlier install is emptied first: live-boot stacks every *.squashfs it finds."""
    check_space(plan, _free(plan))
    shutil.rmtree(plan.target, ignore_errors=True)
    try:
        for item in plan.items:
            item.dest.parent.mkdir(parents=True, exist_ok=True)
            part = item.dest.with_name(item.dest.name + ".part")
            with item.source.open("rb") as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            part.chmod(0o644)
            part.replace(item.dest)
        plan.script.parent.mkdir(parents=True, exist_ok=True)
        plan.script.write_text(plan.script_text)
        plan.script.chmod(0o755)
    except OSError as exc:
        uninstall(plan.root)
        raise InstallError(str(exc)) from exc


def installed(root: Path) -> list[Path]:
    """What `uninstall` would remove."""
    found = [p for p in (root / TARGET, root / GRUB_SCRIPT) if p.exists()]
    return found


def uninstall(root: Path) -> list[Path]:
    removed = installed(root)
    shutil.rmtree(root / TARGET, ignore_errors=True)
    script = root / GRUB_SCRIPT
    if script.exists() and MARKER in script.read_text(errors="replace"):
        script.unlink()
    elif script.exists():
        removed.remove(script)  # not ours: left alone
    return removed


def regenerate_grub(root: Path) -> str | None:
    """`update-grub` (or `grub-mkconfig -o /boot/grub/grub.cfg`), chrooted when root is not / — with
    /dev, /proc and /sys bound in, which `grub-probe` needs to find the disk behind `/`.

    Returns what ran, or None when the system has no GRUB tools (the caller says so)."""
    own = root.resolve() == Path("/")
    for tool in (["update-grub"], ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]):
        if shutil.which(tool[0], path=_path(root)) is None:
            continue
        try:
            with contextlib.nullcontext() if own else chroot.bound(root):
                run = subprocess.run(
                    chroot.command(root, tool), capture_output=True, text=True, check=False, timeout=300
                )
        except chroot.ChrootError as exc:
            raise InstallError(str(exc)) from exc
        if run.returncode != 0:
            raise InstallError(f"{tool[0]} failed: {run.stderr.strip()[-400:]}")
        return " ".join(tool)
    return None


def _path(root: Path) -> str:
    return os.pathsep.join(str(root / d.lstrip("/")) for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"))
