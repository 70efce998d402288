"""A small but real bootable Linux disk for the hard-disk edition and boot-repair tests: an MBR disk
image, one ext4 root partition holding a Debian minbase (with Debian's own GRUB tools and busybox),
GRUB installed by `grub-install` onto the disk (a loop device) and `grub.cfg` written by `update-grub`,
both run chrooted in that root as on an installed PC.

The "user's OS" is tiny: the rescue image's own kernel as `/boot/vmlinuz-KVER`, and a busybox
initramfs as `/boot/initrd.img-KVER` whose init prints `USER_OS_MARKER` on the serial console and powers
off. It is an ordinary menu entry of `10_linux` (the default one); GRUB talks on the serial port
(`GRUB_TERMINAL=serial`) so a test can read the menu and press keys.

Both slow parts are cached by content hash beside the rescue image's stages (`rescue.cache`):
the Debian root as a tarball (`mmdebstrap`, ~80 s cold) and the finished disk image (a copy is handed
out, sparse). `losetup`/`mount`/`chroot` need root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from agent.rescue import chroot
from rescue.bootstrap import mirror_source
from rescue.cache import Stage, cache_root, digest_of

SUITE = "bookworm"
# udev as on any installed system: grub-probe asks `udevadm` where a partition starts (a loop device's
# partition answers no HDIO_GETGEO, so without it grub-install "cannot find a GRUB drive").
PACKAGES = ("grub-pc-bin", "grub-efi-amd64-bin", "grub2-common", "busybox-static", "udev")
EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
KVER = "6.1.0-user"
USER_OS_MARKER = "RME-USER-OS: the user's own Linux is up"
SIZE_MIB = 640  # the root (~175 MB) and the hard-disk rescue system (~185 MB) with room to spare
PART_START = 2048  # sectors: 1 MiB, the usual gap GRUB embeds its core image in
VERSION = 2

DEFAULT_GRUB = """\
GRUB_DEFAULT=0
GRUB_TIMEOUT=20
GRUB_TIMEOUT_STYLE=menu
GRUB_DISTRIBUTOR="UserOS"
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"
GRUB_DISABLE_OS_PROBER=true
"""

INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "{USER_OS_MARKER}"
/bin/busybox poweroff -f
"""


def _run(*cmd: str, timeout: float = 300) -> str:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode}): {run.stderr[-2000:]}")
    return run.stdout


def root_tarball(cache: Path | None = None) -> Path:
    """Debian minbase + GRUB tools + busybox as `root.tar`, cached."""
    cache = cache or cache_root()
    key = digest_of({"v": VERSION, "suite": SUITE, "packages": PACKAGES, "excludes": EXCLUDES,
                     "sources": mirror_source().read_text()})  # fmt: skip
    stage = Stage(cache, "userroot", key)
    if stage.done:
        return stage.path / "root.tar"
    out = stage.begin()
    _run(
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        '--aptopt=APT::Install-Recommends "false"',
        *(f"--dpkgopt=path-exclude={p}" for p in EXCLUDES),
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(out / "root.tar"),
        str(mirror_source()),
        timeout=1200,
    )
    return stage.commit() / "root.tar"


def newc(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A cpio archive in the kernel's initramfs format ("newc"): (name, mode, data, rdev) each."""
    out = bytearray()
    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], start=1):
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, os.major(rdev), os.minor(rdev), len(encoded), 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def user_initramfs(busybox: bytes) -> bytes:
    """/init prints the marker and powers off; /dev/console so the kernel gives init a console."""
    return newc(
        [
            ("dev", stat.S_IFDIR | 0o755, b"", 0),
            ("dev/console", stat.S_IFCHR | 0o600, b"", os.makedev(5, 1)),
            ("proc", stat.S_IFDIR | 0o755, b"", 0),
            ("bin", stat.S_IFDIR | 0o755, b"", 0),
            ("bin/busybox", stat.S_IFREG | 0o755, busybox, 0),
            ("init", stat.S_IFREG | 0o755, INIT.encode(), 0),
        ]
    )


@contextlib.contextmanager
def attached(image: Path) -> Iterator[tuple[str, str]]:
    """The image on a loop device with its partitions scanned: (disk, first partition)."""
    disk = _run("losetup", "--find", "--show", "--partscan", str(image)).strip()
    try:
        part = f"{disk}p1"
        deadline = time.monotonic() + 10
        while not Path(part).exists():  # the kernel's partition scan, then devtmpfs
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {part} after losetup --partscan and partx")
            time.sleep(0.2)
            if not Path(part).exists():  # a kernel without the MBR parser (this VM's): tell it by hand
                subprocess.run(["partx", "-a", disk], capture_output=True, check=False, timeout=30)
        yield disk, part
    finally:
        subprocess.run(["losetup", "-d", disk], check=False, timeout=30)


@contextlib.contextmanager
def mounted_root(image: Path, number: int = 1) -> Iterator[tuple[str, Path]]:
    """The disk's root partition (`number`: 2 on the UEFI disk) mounted read-write: (loop disk, mount
    point)."""
    with attached(image) as (disk, _first), tempfile.TemporaryDirectory(prefix="rme-userdisk-") as tmp:
        point = Path(tmp)
        _run("mount", f"{disk}p{number}", str(point))
        try:
            yield disk, point
        finally:
            _run("umount", str(point))


def grub_in(root: Path, *argv: str) -> str:
    """One of the disk's own GRUB tools, chrooted with /dev, /proc, /sys bound in."""
    with chroot.bound(root):
        return _run(*chroot.command(root, argv))


ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ESP_MIB = 48


def _build(image: Path, tarball: Path, kernel: Path, uefi: bool) -> None:
    """BIOS: MBR, p1 the root, GRUB on the disk. UEFI: GPT, p1 an EFI system partition (FAT32, in
    fstab as /boot/efi), p2 the root — a Linux whose ESP has lost its boot loader (this host's kernel
    has no FAT driver to put one there; the boot repair in the rescue guest does)."""
    with image.open("wb") as f:
        f.truncate(SIZE_MIB << 20)
    table = (
        f"label: gpt\nstart={PART_START}, size={ESP_MIB << 11}, type={ESP_TYPE}\ntype=L\n"
        if uefi
        else f"label: dos\nstart={PART_START}, type=83, bootable\n"
    )
    subprocess.run(
        ["sfdisk", "--no-reread", "-q", str(image)], input=table.encode(), check=True, capture_output=True,
        timeout=60,
    )  # fmt: skip
    with attached(image) as (disk, first):
        part = f"{disk}p2" if uefi else first
        _run("mkfs.ext4", "-q", "-F", "-L", "userroot", part)
        uuid = _run("blkid", "-s", "UUID", "-o", "value", part).strip()
        fstab = f"UUID={uuid} / ext4 errors=remount-ro 0 1\n"
        if uefi:
            _run("mkfs.vfat", "-F", "32", "-n", "ESP", first)
            esp_uuid = _run("blkid", "-s", "UUID", "-o", "value", first).strip()
            fstab += f"UUID={esp_uuid} /boot/efi vfat umask=0077 0 1\n"
        with tempfile.TemporaryDirectory(prefix="rme-userdisk-") as tmp:
            root = Path(tmp)
            _run("mount", part, str(root))
            try:
                _run("tar", "-xpf", str(tarball), "-C", str(root), "--numeric-owner")
                shutil.copyfile(kernel, root / f"boot/vmlinuz-{KVER}")
                busybox = (root / "bin/busybox").read_bytes()
                (root / f"boot/initrd.img-{KVER}").write_bytes(user_initramfs(busybox))
                (root / "etc/default").mkdir(exist_ok=True)
                (root / "etc/default/grub").write_text(DEFAULT_GRUB)
                (root / "etc/fstab").write_text(fstab)
                (root / "etc/hostname").write_text("user-pc\n")
                if uefi:  # the ESP stays empty: this host's kernel cannot mount FAT (the rescue's can)
                    (root / "boot/efi").mkdir(parents=True, exist_ok=True)
                    (root / "boot/grub").mkdir(parents=True, exist_ok=True)
                else:
                    grub_in(root, "grub-install", "--target=i386-pc", disk)
                grub_in(root, "update-grub")
            finally:
                _run("umount", str(root))


def user_disk(kernel: Path, dest: Path, cache: Path | None = None, *, uefi: bool = False) -> Path:
    """A fresh copy of the bootable disk at `dest` (built once per kernel, root and firmware, then
    cached): BIOS/MBR, or with `uefi` GPT + an EFI system partition."""
    cache = cache or cache_root()
    tarball = root_tarball(cache)
    digest = hashlib.sha256(kernel.read_bytes()).hexdigest()
    key = digest_of({"v": VERSION, "root": tarball.parent.name, "kernel": digest, "grub": DEFAULT_GRUB,
                     "init": INIT, "size": SIZE_MIB, **({"uefi": True} if uefi else {})})  # fmt: skip
    stage = Stage(cache, "uefidisk" if uefi else "userdisk", key)
    if not stage.done:
        _build(stage.begin() / "disk.img", tarball, kernel, uefi)
        stage.commit()
    return copy(stage.path / "disk.img", dest)


def copy(image: Path, dest: Path) -> Path:
    _run("cp", "--sparse=always", str(image), str(dest))
    return dest


def kernel_of(iso: Path, dest: Path) -> Path:
    """The rescue image's kernel (the tiny user OS boots the same one)."""
    _run("xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/live/vmlinuz", str(dest))
    return dest


def menu_index(grub_cfg: str, title: str) -> int:
    """The position of the top-level entry whose title contains `title` in GRUB's menu (entries and
    submenus at the left margin are the menu's lines, in order)."""
    top = [line for line in grub_cfg.splitlines() if line.startswith(("menuentry ", "submenu "))]
    for i, line in enumerate(top):
        if title in line:
            return i
    raise LookupError(f"no menu entry {title!r} in grub.cfg: {top}")
