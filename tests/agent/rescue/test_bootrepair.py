"""The boot repair's planning core: which partitions are mounted where and which GRUB commands run, for
the layouts PCs have (MBR/BIOS, GPT/UEFI with a separate /boot, GPT with a BIOS boot partition, Fedora's
grub2-* tools), and the refusals when GRUB cannot be put back. Probes are `blkid -p -o export` output
as recorded (the MBR one from the test-built disk of tests/rescue/userdisk.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.rescue import bootrepair
from agent.rescue.bootrepair import Refused, Target, layout_of, parse_blkid, parse_fstab, plan

ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"
BIOS_BOOT = "21686148-6449-6e6f-744e-656564454649"
DEBIAN = Target(
    frozenset({"i386-pc", "x86_64-efi"}), frozenset({"grub-install", "update-grub", "grub-mkconfig"})
)

MBR_DISK = "DEVNAME=/dev/loop2\nPTUUID=9a2ae576\nPTTYPE=dos\n"
MBR_ROOT = """DEVNAME=/dev/loop2p1
LABEL=userroot
UUID=0d2779e4-d731-457e-851c-adb9315d35fa
VERSION=1.0
BLOCK_SIZE=4096
TYPE=ext4
USAGE=filesystem
PART_ENTRY_SCHEME=dos
PART_ENTRY_UUID=9a2ae576-01
PART_ENTRY_TYPE=0x83
PART_ENTRY_FLAGS=0x80
PART_ENTRY_NUMBER=1
PART_ENTRY_OFFSET=2048
PART_ENTRY_SIZE=1308672
PART_ENTRY_DISK=7:2
"""


def _gpt(*parts: tuple[str, str, str, str]) -> dict[str, dict[str, str]]:
    """(device, TYPE, PART_ENTRY_TYPE, UUID) per partition of /dev/nvme0n1."""
    probes = {"/dev/nvme0n1": {"PTTYPE": "gpt"}}
    for i, (device, fstype, parttype, uuid) in enumerate(parts, 1):
        probes[device] = {"TYPE": fstype, "PART_ENTRY_TYPE": parttype, "UUID": uuid,
                          "PART_ENTRY_UUID": f"aaaa-{i}", "LABEL": f"L{i}"}  # fmt: skip
    return probes


def test_mbr_bios_single_root() -> None:
    layout = layout_of(
        "/dev/loop2", {"/dev/loop2": parse_blkid(MBR_DISK), "/dev/loop2p1": parse_blkid(MBR_ROOT)}, set()
    )
    assert layout.pttype == "dos" and layout.parts[0].fstype == "ext4" and not layout.parts[0].mounts
    fstab = "# /etc/fstab\nUUID=0d2779e4-d731-457e-851c-adb9315d35fa / ext4 errors=remount-ro 0 1\n"
    done = plan(layout, layout.parts[0], fstab, DEBIAN)
    assert done.mounts == (("/dev/loop2p1", "/"),)
    assert done.commands == (("grub-install", "--target=i386-pc", "/dev/loop2"), ("update-grub",))
    assert (done.bios, done.efi) == (True, False)


def test_gpt_uefi_with_a_separate_boot_and_the_esp_in_fstab() -> None:
    layout = layout_of(
        "/dev/nvme0n1",
        _gpt(("/dev/nvme0n1p1", "vfat", ESP, "A1B2-C3D4"), ("/dev/nvme0n1p2", "ext4", LINUX, "b00t"),
             ("/dev/nvme0n1p3", "ext4", LINUX, "r00t")),
        set(),
    )  # fmt: skip
    fstab = """UUID=r00t / ext4 defaults 0 1
UUID=b00t /boot ext4 defaults 0 2
UUID=A1B2-C3D4 /boot/efi vfat umask=0077 0 1
/swapfile none swap sw 0 0
"""
    done = plan(layout, layout.parts[2], fstab, DEBIAN)
    assert done.mounts == (
        ("/dev/nvme0n1p3", "/"),
        ("/dev/nvme0n1p2", "/boot"),
        ("/dev/nvme0n1p1", "/boot/efi"),
    )
    assert done.commands == (
        ("grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi", "--removable", "--no-nvram"),
        ("update-grub",),
    )
    assert (done.bios, done.efi) == (False, True)  # GPT without a BIOS boot partition: UEFI only


def test_gpt_with_a_bios_boot_partition_gets_both_and_an_unlisted_esp_is_found() -> None:
    layout = layout_of(
        "/dev/nvme0n1",
        _gpt(("/dev/nvme0n1p1", "", BIOS_BOOT, ""), ("/dev/nvme0n1p2", "vfat", ESP.upper(), "E5P"),
             ("/dev/nvme0n1p3", "ext4", LINUX, "r00t")),
        set(),
    )  # fmt: skip
    done = plan(layout, layout.parts[2], "UUID=r00t / ext4 defaults 0 1\n", DEBIAN)
    assert done.mounts == (("/dev/nvme0n1p3", "/"), ("/dev/nvme0n1p2", "/boot/efi"))
    assert [c[1] for c in done.commands[:2]] == ["--target=i386-pc", "--target=x86_64-efi"]
    assert (done.bios, done.efi) == (True, True)


def test_an_esp_that_is_boot_itself_is_mounted_once() -> None:
    layout = layout_of(
        "/dev/nvme0n1",
        _gpt(("/dev/nvme0n1p1", "vfat", ESP, "E5P"), ("/dev/nvme0n1p2", "ext4", LINUX, "r00t")),
        set(),
    )
    done = plan(
        layout, layout.parts[1], "UUID=r00t / ext4 defaults 0 1\nUUID=E5P /boot vfat umask=0077 0 1\n", DEBIAN
    )
    assert done.mounts == (("/dev/nvme0n1p2", "/"), ("/dev/nvme0n1p1", "/boot"))
    assert done.commands[0] == (
        "grub-install", "--target=x86_64-efi", "--efi-directory=/boot", "--removable", "--no-nvram",
    )  # fmt: skip


def test_fedora_tools_and_partuuid_label_specs() -> None:
    layout = layout_of(
        "/dev/nvme0n1",
        _gpt(("/dev/nvme0n1p1", "vfat", ESP, "E5P"), ("/dev/nvme0n1p2", "xfs", LINUX, "r00t"),
             ("/dev/nvme0n1p3", "ext4", LINUX, "b00t")),
        set(),
    )  # fmt: skip
    fedora = Target(frozenset({"x86_64-efi"}), frozenset({"grub2-install", "grub2-mkconfig"}))
    fstab = "\n".join(
        [
            "LABEL=L2 / xfs defaults 0 0",
            "PARTUUID=AAAA-3 /boot ext4 defaults 1 2",
            "LABEL=L1 /boot/efi vfat x 0 2",
        ]
    )
    done = plan(layout, layout.parts[1], fstab, fedora)
    assert done.mounts[1:] == (("/dev/nvme0n1p3", "/boot"), ("/dev/nvme0n1p1", "/boot/efi"))
    assert done.commands[0][0] == "grub2-install"
    assert done.commands[-1] == ("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg")


@pytest.mark.parametrize(
    ("pttype", "parts", "target", "fstab", "code"),
    [
        # GPT with neither an ESP nor a BIOS boot partition
        ("gpt", [("/dev/nvme0n1p1", "ext4", LINUX, "r00t")], DEBIAN, "", "no-boot-method"),
        ("dos", [("/dev/nvme0n1p1", "ext4", "0x83", "r00t")],
         Target(frozenset({"x86_64-efi"}), DEBIAN.tools), "", "no-boot-method"),  # no i386-pc modules
        ("dos", [("/dev/nvme0n1p1", "ext4", "0x83", "r00t")],
         Target(DEBIAN.platforms, frozenset({"update-grub"})), "", "no-grub"),  # no grub-install
        ("dos", [("/dev/nvme0n1p1", "ext4", "0x83", "r00t")],
         Target(DEBIAN.platforms, frozenset({"grub-install"})), "", "no-grub"),  # no menu generator
        ("dos", [("/dev/nvme0n1p1", "ext4", "0x83", "r00t")], DEBIAN,
         "UUID=elsewhere /boot ext4 defaults 0 2\n", "boot-not-found"),
    ],
)  # fmt: skip
def test_refused_when_grub_cannot_be_put_back(
    pttype: str, parts: list[tuple[str, str, str, str]], target: Target, fstab: str, code: str
) -> None:
    probes = _gpt(*parts)
    probes["/dev/nvme0n1"]["PTTYPE"] = pttype
    layout = layout_of("/dev/nvme0n1", probes, set())
    with pytest.raises(Refused) as refused:
        plan(layout, layout.parts[0], fstab, target)
    assert refused.value.code == code


def test_fstab_parsing_and_mounted_partitions() -> None:
    entries = parse_fstab("# c\n\n  UUID=x  /  ext4  defaults 0 1 # trailing\nproc /proc proc\nshort line\n")
    assert [(e.spec, e.point, e.fstype) for e in entries] == [
        ("UUID=x", "/", "ext4"),
        ("proc", "/proc", "proc"),
    ]
    layout = layout_of(
        "/dev/loop2", {"/dev/loop2": {}, "/dev/loop2p1": parse_blkid(MBR_ROOT)}, {"/dev/loop2p1"}
    )
    assert bootrepair.mounted_partitions(layout) == ["/dev/loop2p1"]
    assert layout.pttype is None


def test_partitions_from_the_kernel_in_order(tmp_path: Path) -> None:
    for name, number in (("sda2", "2"), ("sda10", "10"), ("sda1", "1")):
        (tmp_path / "sda" / name).mkdir(parents=True)
        (tmp_path / "sda" / name / "partition").write_text(number + "\n")
    (tmp_path / "sda" / "queue").mkdir()
    (tmp_path / "sda1").mkdir()
    (tmp_path / "sda1" / "partition").write_text("1\n")
    assert bootrepair.partitions_of("/dev/sda", tmp_path) == ["/dev/sda1", "/dev/sda2", "/dev/sda10"]
    assert bootrepair.partitions_of("/dev/sda1", tmp_path) is None  # a partition, not a disk
    assert bootrepair.partitions_of("/dev/sdz", tmp_path) is None
    assert bootrepair.partitions_of("/dev/../etc", tmp_path) is None


def test_the_old_boot_code_menu_and_loader_are_kept_in_the_system_first(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    head = bytes(range(256)) * 4096 + b"partition data"  # 1 MiB of "boot code and gap", then data
    disk.write_bytes(head)
    root = tmp_path / "root"
    (root / "boot/grub").mkdir(parents=True)
    (root / "boot/grub/grub.cfg").write_text("menuentry 'old' {}\n")
    (root / "boot/efi/EFI/BOOT").mkdir(parents=True)
    (root / "boot/efi/EFI/BOOT/BOOTX64.EFI").write_bytes(b"MZ old loader")
    efi = bootrepair.Plan(mounts=(("/dev/x2", "/"),), commands=(), bios=False, efi=True)

    where = bootrepair.keep_old_boot(str(disk), root, efi, now=1_796_000_000)
    assert where == "/boot/rme-rescue-backup/20261130-005320"
    kept = root / where.lstrip("/")
    assert (kept / "disk-head.bin").read_bytes() == head[: 1 << 20]
    assert (kept / "grub.cfg").read_text() == "menuentry 'old' {}\n"
    assert (kept / "BOOTX64.EFI").read_bytes() == b"MZ old loader"
    note = (kept / "README.txt").read_text(encoding="utf-8")
    assert "bs=440 count=1" in note and "恢复" in note and str(disk) in note

    bios = bootrepair.Plan(mounts=(("/dev/x1", "/"),), commands=(), bios=True, efi=False)
    (root / "boot/grub/grub.cfg").unlink()  # a wiped menu: nothing to keep but the disk's head
    again = root / bootrepair.keep_old_boot(str(disk), root, bios, now=1_796_000_060).lstrip("/")
    assert sorted(p.name for p in again.iterdir()) == ["README.txt", "disk-head.bin"]


def test_no_repair_without_the_way_back(tmp_path: Path) -> None:
    plan_ = bootrepair.Plan(mounts=(), commands=(), bios=True, efi=False)
    with pytest.raises(OSError):
        bootrepair.keep_old_boot(str(tmp_path / "no-such-disk"), tmp_path, plan_)
