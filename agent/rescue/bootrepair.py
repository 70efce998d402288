"""Linux boot repair: reinstall GRUB on a disk and regenerate the installed Linux's boot menu, with
that Linux's own GRUB tools (chrooted), so the boot code, the modules and the menu all come from the
version the system itself maintains — the rescue image carries no GRUB of its own.

Pure core: `layout_of` (blkid's probes of a disk and its partitions), `parse_fstab`, `plan` (what to
mount where and which commands run, for that layout and what the installed system has). I/O: `read_layout`,
`find_linux`, `repair` (mount the root read-write and its own /boot and ESP, bind /dev /proc /sys, run
the plan's commands, unmount everything, also on failure).

Which GRUB, for which layout:
- BIOS: an MBR ("dos") disk, or a GPT disk with a BIOS boot partition (GRUB's core image lives there);
  `grub-install --target=i386-pc DISK` when the system has GRUB's i386-pc modules.
- UEFI: an EFI system partition on the disk (or named in fstab), when the system has GRUB's x86_64-efi
  modules: `grub-install --target=x86_64-efi --efi-directory=MOUNT --removable --no-nvram` — GRUB as
  `EFI/BOOT/BOOTX64.EFI`, the path every UEFI firmware boots without a boot entry in its NVRAM (the
  rescue system may itself run under BIOS, and firmware entries written from a rescue boot are what
  breaks most often). The distro's own `EFI/<name>/` entry, if intact, stays as it was.
- the menu: `update-grub`, else `grub-mkconfig -o /boot/grub/grub.cfg`, else (Fedora, openSUSE)
  `grub2-mkconfig -o /boot/grub2/grub.cfg`; `grub2-install` where `grub-install` is absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.rescue import chroot, disks

LINUX_FS = frozenset({"ext2", "ext3", "ext4", "btrfs", "xfs"})
ESP_TYPES = frozenset({"c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "0xef"})
BIOS_BOOT = "21686148-6449-6e6f-744e-656564454649"


class Refused(RuntimeError):
    """This disk or system cannot be repaired this way; `code` names why (the executor words it)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class RepairFailed(RuntimeError):
    """A command of the plan failed; everything mounted has been unmounted."""


@dataclass(frozen=True)
class Part:
    device: str
    fstype: str | None = None
    parttype: str | None = None
    uuid: str | None = None
    partuuid: str | None = None
    label: str | None = None
    mounts: tuple[str, ...] = ()

    @property
    def esp(self) -> bool:
        return (self.parttype or "").lower() in ESP_TYPES and self.fstype == "vfat"


@dataclass(frozen=True)
class Layout:
    disk: str
    pttype: str | None  # "dos", "gpt", or None (no partition table)
    parts: tuple[Part, ...]

    def find(self, spec: str) -> Part | None:
        """The partition an fstab `spec` names: UUID=, PARTUUID=, LABEL=, a /dev path."""
        key, _, value = spec.partition("=")
        for part in self.parts:
            if (key, value.lower()) in (("UUID", (part.uuid or "").lower()),
                                        ("PARTUUID", (part.partuuid or "").lower())):  # fmt: skip
                return part
            if key == "LABEL" and value == part.label:
                return part
            if spec == part.device or (spec.startswith("/dev/disk/by-uuid/") and spec[18:] == part.uuid):
                return part
        return None


@dataclass(frozen=True)
class Target:
    """What the installed system offers: GRUB platforms (`i386-pc`, `x86_64-efi`) and tools by name."""

    platforms: frozenset[str]
    tools: frozenset[str]


@dataclass(frozen=True)
class Plan:
    mounts: tuple[tuple[str, str], ...]  # (device, mount point inside the root), in order, root first
    commands: tuple[tuple[str, ...], ...]  # run inside the root
    bios: bool
    efi: bool


def parse_blkid(text: str) -> dict[str, str]:
    """`blkid -p -o export DEVICE`: KEY=value lines."""
    pairs = (line.partition("=") for line in text.splitlines())
    return {key: value for key, sep, value in pairs if sep}


def layout_of(disk: str, probes: dict[str, dict[str, str]], mounted: set[str]) -> Layout:
    """The disk's layout from `blkid -p` of the disk and of each partition (`probes`, by device; the
    disk first) and the mounted sources. Low-level probes, not lsblk: lsblk reads udev's database,
    which a rescue boot has but a chroot or a bare system may not."""
    top = probes.get(disk, {})
    parts = tuple(
        Part(
            device=device,
            fstype=info.get("TYPE"),
            parttype=info.get("PART_ENTRY_TYPE"),
            uuid=info.get("UUID"),
            partuuid=info.get("PART_ENTRY_UUID"),
            label=info.get("LABEL"),
            mounts=("mounted",) if device in mounted else (),
        )
        for device, info in probes.items()
        if device != disk
    )
    return Layout(disk, top.get("PTTYPE"), parts)


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    point: str
    fstype: str
    options: str


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 3:
            entries.append(FstabEntry(fields[0], fields[1], fields[2], fields[3] if len(fields) > 3 else ""))
    return entries


def _first(tools: frozenset[str], *names: str) -> str | None:
    return next((name for name in names if name in tools), None)


def plan(layout: Layout, root: Part, fstab: str, target: Target) -> Plan:
    """What to mount and run for this disk and system; `Refused` when GRUB cannot be put back here."""
    install = _first(target.tools, "grub-install", "grub2-install")
    if install is None:
        raise Refused("no-grub", "the installed system has no grub-install")
    entries = {e.point: e for e in parse_fstab(fstab)}
    mounts: list[tuple[str, str]] = [(root.device, "/")]
    boot = None
    if "/boot" in entries:
        boot = layout.find(entries["/boot"].spec)
        if boot is None:
            raise Refused("boot-not-found", entries["/boot"].spec)
        mounts.append((boot.device, "/boot"))
    esp_point: str | None = next((p for p in ("/boot/efi", "/efi") if p in entries), None)
    esp = layout.find(entries[esp_point].spec) if esp_point else None
    if esp is None:
        esp = next((p for p in layout.parts if p.esp), None)
        esp_point = "/boot/efi" if esp else None
    if esp is not None and boot is not None and esp.device == boot.device:
        esp_point = "/boot"  # the ESP is /boot itself (systemd-boot style): mounted once, used there
    bios_ok = layout.pttype == "dos" or any((p.parttype or "").lower() == BIOS_BOOT for p in layout.parts)
    bios = bios_ok and "i386-pc" in target.platforms
    efi = esp is not None and "x86_64-efi" in target.platforms
    if not (bios or efi):
        raise Refused(
            "no-boot-method",
            f"table {layout.pttype}, ESP {'yes' if esp else 'no'}, GRUB platforms "
            f"{', '.join(sorted(target.platforms)) or 'none'}",
        )
    commands: list[tuple[str, ...]] = []
    if bios:
        commands.append((install, "--target=i386-pc", layout.disk))
    if efi and esp is not None and esp_point is not None:
        if esp_point != "/boot":
            mounts.append((esp.device, esp_point))
        commands.append(
            (install, "--target=x86_64-efi", f"--efi-directory={esp_point}", "--removable", "--no-nvram")
        )
    if "update-grub" in target.tools:
        commands.append(("update-grub",))
    elif "grub-mkconfig" in target.tools:
        commands.append(("grub-mkconfig", "-o", "/boot/grub/grub.cfg"))
    elif "grub2-mkconfig" in target.tools:
        commands.append(("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"))
    else:
        raise Refused("no-grub", "the installed system has no update-grub / grub-mkconfig")
    return Plan(tuple(mounts), tuple(commands), bios, efi)


# -- I/O ------------------------------------------------------------------------------------------

TOOL_NAMES = ("grub-install", "grub2-install", "update-grub", "grub-mkconfig", "grub2-mkconfig")
BIN_DIRS = ("usr/sbin", "usr/bin", "sbin", "bin")
LIB_DIRS = ("usr/lib/grub", "usr/lib/grub2", "usr/share/grub2")


def partitions_of(disk: str, sys_block: Path = Path("/sys/class/block")) -> list[str] | None:
    """The disk's partitions as /dev paths in the kernel's order, or None when `disk` is not a whole
    disk on this system."""
    name = disk.removeprefix("/dev/")
    entry = sys_block / name
    if not disk.startswith("/dev/") or "/" in name or not entry.is_dir() or (entry / "partition").exists():
        return None
    found = [p for p in entry.iterdir() if (p / "partition").is_file()]
    found.sort(key=lambda p: int((p / "partition").read_text().strip() or 0))
    return [f"/dev/{p.name}" for p in found]


def mounted_sources(mounts: Path = Path("/proc/mounts")) -> set[str]:
    with contextlib.suppress(OSError):
        return {line.split(" ", 1)[0] for line in mounts.read_text().splitlines()}
    return set()


def _blkid(device: str) -> dict[str, str]:
    run = subprocess.run(
        ["blkid", "-p", "-o", "export", device], capture_output=True, text=True, timeout=30, check=False
    )
    return parse_blkid(run.stdout)  # exit 2: nothing found on it, an empty probe


def read_layout(disk: str) -> Layout:
    parts = partitions_of(disk)
    if parts is None:
        raise Refused("unknown-disk", disk)
    probes = {device: _blkid(device) for device in [disk, *parts]}
    return layout_of(disk, probes, mounted_sources())


def read_target(root: Path) -> Target:
    tools = {t for t in TOOL_NAMES if any((root / d / t).exists() for d in BIN_DIRS)}
    platforms = {p for p in ("i386-pc", "x86_64-efi") if any((root / d / p).is_dir() for d in LIB_DIRS)}
    return Target(frozenset(platforms), frozenset(tools))


@dataclass
class Found:
    root: Part
    system: str
    fstab: str
    target: Target


def find_linux(layout: Layout, root: str | None = None) -> Found:
    """The installed Linux on this disk (each Linux file system mounted read-only to look): the one
    named, else the only one; several → the engineer must name the root partition."""
    if root is not None and root not in {p.device for p in layout.parts}:
        raise Refused("not-on-disk", root)
    found: list[Found] = []
    for part in layout.parts:
        if (root is not None and part.device != root) or part.fstype not in LINUX_FS:
            continue
        with (
            contextlib.suppress(disks.DiskError, OSError, subprocess.SubprocessError),
            disks.mounted(part.device, part.fstype) as point,
        ):
            system = disks.installed_os(point)
            fstab = point / "etc/fstab"
            if system and system != "Windows" and fstab.is_file():
                found.append(Found(part, system, fstab.read_text(errors="replace"), read_target(point)))
    if not found:
        raise Refused("no-linux", root or layout.disk)
    if len(found) > 1:
        raise Refused("several-linux", ", ".join(f.root.device for f in found))
    return found[0]


def mounted_partitions(layout: Layout) -> list[str]:
    return [p.device for p in layout.parts if p.mounts]


@dataclass
class Runner:
    """Runs the plan's commands one at a time; `stop()` (the kill switch) kills the one running and
    lets no further one start."""

    stopped: bool = False
    current: subprocess.Popen[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, argv: Sequence[str], timeout: float = 600) -> tuple[int, str]:
        with self.lock:
            if self.stopped:
                raise RepairFailed("stopped")
            self.current = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
            )
        try:
            out, _ = self.current.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.current.kill()
            out, _ = self.current.communicate()
        return self.current.returncode, out

    def stop(self) -> bool:
        with self.lock:
            self.stopped = True
            proc = self.current
        if proc is not None and proc.poll() is None:
            proc.kill()
            return True
        return False


@dataclass(frozen=True)
class Result:
    found: Found
    plan: Plan
    ran: tuple[str, ...]  # the command lines, as run inside the system
    backup: str | None = None  # where the old boot code was kept, as the repaired system sees it


BACKUP_DIR = "boot/rme-rescue-backup"
HEAD_BYTES = 1 << 20  # the MBR/protective MBR and the gap after it, where BIOS GRUB keeps its core image
RESTORE_NOTE = """\
Kept by RME Rescue before it reinstalled GRUB on {disk} ({when} UTC).
RME 远程救援在 {disk} 上重装 GRUB 之前保存的旧启动数据（{when} UTC）。

disk-head.bin  the disk's first MiB as it was / 硬盘开头 1 MiB 的原样
grub.cfg       the old boot menu, if there was one / 旧的启动菜单（如有）
BOOTX64.EFI    the old UEFI fallback loader, if there was one / 旧的 UEFI 启动程序（如有）

To put the old MBR boot code back (the partition table after it is left alone):
恢复旧的 MBR 启动代码（不动其后的分区表）：
  dd if=disk-head.bin of=/dev/DISK bs=440 count=1 conv=notrunc
"""


def keep_old_boot(disk: str, root: Path, plan: Plan, now: float | None = None) -> str:
    """Copies what the repair overwrites into the repaired system's own /boot (mounted at `root`): the
    disk's first MiB, the old grub.cfg and, for UEFI, the old fallback loader. Returns the folder's path
    as that system sees it. Raises OSError when it cannot (the repair then does not start)."""
    when = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    folder = root / BACKUP_DIR / when
    folder.mkdir(parents=True, exist_ok=True)
    with open(disk, "rb") as source:
        (folder / "disk-head.bin").write_bytes(source.read(HEAD_BYTES))
    old_menu = root / "boot/grub/grub.cfg"
    if old_menu.is_file():
        shutil.copyfile(old_menu, folder / "grub.cfg")
    loader = root / "boot/efi/EFI/BOOT/BOOTX64.EFI"
    if plan.efi and loader.is_file():
        shutil.copyfile(loader, folder / "BOOTX64.EFI")
    (folder / "README.txt").write_text(RESTORE_NOTE.format(disk=disk, when=when), encoding="utf-8")
    os.sync()
    return f"/{BACKUP_DIR}/{when}"


@contextlib.contextmanager
def _root_mounted(plan: Plan) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rme-repair-") as tmp:
        point = Path(tmp)
        steps = [(["-o", "rw", device], point / where.lstrip("/")) for device, where in plan.mounts]
        with chroot.mounts(steps), chroot.bound(point):
            yield point


def repair(
    disk: str, root: str | None = None, runner: Runner | None = None, log: Callable[[str], None] = print
) -> Result:
    """Find the Linux on `disk`, plan, mount, run every command inside it, unmount. `Refused` before
    anything is written; `RepairFailed` naming the command that failed (mounts undone either way)."""
    runner = runner or Runner()
    layout = read_layout(disk)
    busy = mounted_partitions(layout) + ([disk] if disk in mounted_sources() else [])
    if busy:
        raise Refused("mounted", ", ".join(busy))
    found = find_linux(layout, root)
    the_plan = plan(layout, found.root, found.fstab, found.target)
    ran: list[str] = []
    try:
        with _root_mounted(the_plan) as point:
            try:
                backup = keep_old_boot(disk, point, the_plan)
            except OSError as exc:  # nothing written yet: no repair without the way back
                raise RepairFailed(f"cannot keep the old boot code: {exc}"[:240]) from exc
            log(f"old boot code kept in {backup}")
            for argv in the_plan.commands:
                line = " ".join(argv)
                code, out = runner.run(chroot.command(point, argv))
                log(f"$ {line}\n{out.strip()[-2000:]}")
                if code != 0:
                    last = (out.strip().splitlines() or ["no output"])[-1]
                    raise RepairFailed(f"{line} failed (exit {code}): {last}"[:240])
                ran.append(line)
    except chroot.ChrootError as exc:
        raise RepairFailed(str(exc)[:240]) from exc
    return Result(found, the_plan, tuple(ran), backup)
