"""Disks the rescue tests attach: a "broken" internal disk (an ext4 and an NTFS partition holding known
files, no system on it) and an empty USB disk (one FAT32 partition). Built as plain image files:
`mkfs.ext4 -d` fills ext4 from a folder, NTFS is filled through ntfs-3g (FUSE), FAT is read back with
mtools — no loop devices (except `loop_system_disk`, for the image-write tests)."""

from __future__ import annotations

import contextlib
import hashlib
import random
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

MIB = 1 << 20
PART_START = 1 * MIB


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def known_files(seed: int) -> dict[str, bytes]:
    """Relative path → content: nested folders, Chinese names, an empty file, one 3 MB file."""
    rnd = random.Random(seed)
    return {
        "照片/家庭/春节.jpg": rnd.randbytes(700_000),
        "照片/readme.txt": "我们的照片\nour photos\n".encode(),
        "照片/empty.bin": b"",
        "工作/report.docx": rnd.randbytes(3 * MIB + 17),
        "工作/notes/todo.txt": b"call the ISP\n" * 100,
    }


def _fill(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _sfdisk(image: Path, script: str) -> None:
    subprocess.run(
        ["sfdisk", "--no-reread", "-q", str(image)],
        input=script.encode(),
        check=True,
        capture_output=True,
        timeout=60,
    )


def _place(image: Path, part: Path, offset: int) -> None:
    with image.open("r+b") as out, part.open("rb") as src:
        out.seek(offset)
        while block := src.read(4 * MIB):
            out.write(block)


def broken_disk(
    path: Path, ext4_files: dict[str, bytes], ntfs_files: dict[str, bytes], ext_mib: int = 40
) -> None:
    """p1 ext4 (`ext_mib`, "home" of a dead Linux), p2 NTFS 48 MiB ("Users" of a dead Windows)."""
    ext_size, ntfs_size = ext_mib * MIB, 48 * MIB
    with tempfile.TemporaryDirectory(prefix="rme-disk-") as tmp:
        work = Path(tmp)
        tree = work / "ext"
        _fill(tree / "home/zhang", ext4_files)
        ext = work / "ext.img"
        _run("mkfs.ext4", "-q", "-F", "-L", "LINUXDATA", "-d", str(tree), str(ext), f"{ext_size // 1024}k")
        ntfs = work / "ntfs.img"
        with ntfs.open("wb") as f:
            f.truncate(ntfs_size)
        ntfs_start = PART_START + ext_size
        _run("mkntfs", "-F", "-Q", "-q", "-L", "WINDATA", "-p", str(ntfs_start // 512), str(ntfs))
        mnt = work / "mnt"
        mnt.mkdir()
        _run("ntfs-3g", str(ntfs), str(mnt))
        try:
            _fill(mnt / "Users/Zhang/Documents", ntfs_files)
        finally:
            _run("umount", str(mnt))
        with path.open("wb") as f:
            f.truncate(PART_START + ext_size + ntfs_size + MIB)
        _sfdisk(
            path,
            f"label: dos\nstart={PART_START // 512}, size={ext_size // 512}, type=83\n"
            f"start={ntfs_start // 512}, size={ntfs_size // 512}, type=7\n",
        )
        _place(path, ext, PART_START)
        _place(path, ntfs, ntfs_start)


def usb_disk(path: Path, size: int = 64 * MIB) -> None:
    """An empty FAT32 USB disk (one partition from 1 MiB)."""
    with tempfile.TemporaryDirectory(prefix="rme-usb-") as tmp:
        part = Path(tmp) / "fat.img"
        _run("mkfs.vfat", "-F", "32", "-n", "USBDISK", "-C", str(part), str((size - PART_START) // 1024))
        with path.open("wb") as f:
            f.truncate(size)
        _sfdisk(path, f"label: dos\nstart={PART_START // 512}, type=c\n")
        _place(path, part, PART_START)


def usb_files(path: Path, dest: Path) -> dict[str, bytes]:
    """Every file on the USB disk's FAT partition (read with mtools), by path relative to its root."""
    dest.mkdir(parents=True, exist_ok=True)
    env_image = f"{path}@@{PART_START}"
    listing = subprocess.run(
        ["mdir", "-b", "-/", "-i", env_image, "::/"],
        capture_output=True,
        check=False,
        text=True,
        env={"MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"},
        timeout=60,
    )
    if listing.returncode != 0 or not listing.stdout.strip():
        return {}
    subprocess.run(
        ["mcopy", "-s", "-n", "-i", env_image, "::/*", str(dest)],
        check=True,
        capture_output=True,
        env={"MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"},
        timeout=120,
    )
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}


def digest(files: dict[str, bytes]) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


@contextlib.contextmanager
def loop_system_disk(backing: Path, size: int, system: str) -> Iterator[str]:
    """A loop device over `backing` (`size` bytes): one ext4 file system, labelled OLDSYS, whose
    /etc/os-release names `system` — the "installed system" a write-image question names. Detached after."""
    with backing.open("wb") as handle:
        handle.truncate(size)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "etc").mkdir()
        (root / "etc" / "os-release").write_text(f'PRETTY_NAME="{system}"\n')
        _run("mkfs.ext4", "-q", "-F", "-L", "OLDSYS", "-d", str(root), str(backing))
    device = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)
