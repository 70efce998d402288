"""Stage 1, the Debian live system: mmdebstrap → pruned root → squashfs, with its kernel and
live-boot initramfs beside it. Cached by the hash of `rescue.packages` and this file's hooks.

Only Debian's mirror is reachable, so the mirror is the one this machine's apt uses
(/etc/apt/sources.list.d/*.sources or /etc/apt/sources.list), handed to mmdebstrap as is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rescue import packages
from rescue.cache import Stage, digest_of

# The initramfs holds only what finding and mounting the live medium needs (`MODULES=list` plus this
# hook): Debian's default `MODULES=most` with live-boot's hook made a 118 MB initramfs (every SCSI HBA
# and network driver) that took seconds to unpack and probe under emulation; this one is ~48 MB.
INITRAMFS_HOOK = r"""#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
# Where the medium (CD, USB stick, SD card) or the hard-disk edition's /boot can sit.
copy_modules_dir kernel/drivers/ata
copy_modules_dir kernel/drivers/nvme
copy_modules_dir kernel/drivers/usb/storage
copy_modules_dir kernel/drivers/usb/host
copy_modules_dir kernel/drivers/mmc
manual_add_modules sd_mod sr_mod uas virtio_pci virtio_blk virtio_scsi vmd loop dm-mod \
	megaraid_sas mpt3sas hpsa vmw_pvscsi hv_storvsc xen-blkfront
# File systems of the medium, of the images on it and of the hard-disk edition's /boot.
manual_add_modules isofs udf squashfs overlay ext4 vfat nls_cp437 nls_iso8859-1 nls_utf8 btrfs xfs
# A keyboard for the initramfs' emergency shell.
manual_add_modules atkbd i8042 usbhid hid-generic
# The hypervisor's RNG, loaded by the initramfs' udev: without it (TCG has no RDRAND) the kernel's
# pool was not ready until ~60 s after the switch to the root file system, and systemd waited for it.
manual_add_modules virtio_rng
# live-boot's own hook adds every network driver, for netboot, which this image does not do.
rm -rf "${DESTDIR}/lib/modules/${version}/kernel/drivers/net"
"""

# Runs inside mmdebstrap's customize hook with the root in $1: drop pruned modules, let systemd stay
# quiet on the consoles the rescue screen owns, and rebuild the initramfs small (zstd, the modules
# `INITRAMFS_HOOK` names). The rescue agent's unit and files come in stage 2 as their own squashfs layer.
CUSTOMIZE = r"""
set -eu
root="$1"
kver=$(ls "$root/lib/modules" | head -n1)
for d in {pruned}; do rm -rf "$root/lib/modules/$kver/$d"; done
chroot "$root" depmod "$kver"
echo 'COMPRESS=zstd' > "$root/etc/initramfs-tools/conf.d/rme-compress"
echo 'MODULES=list' > "$root/etc/initramfs-tools/conf.d/rme-modules"
install -m 0755 {hook} "$root/etc/initramfs-tools/hooks/rme-rescue"
chroot "$root" update-initramfs -u -k "$kver"
echo rme-rescue > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 rme-rescue\n' > "$root/etc/hosts"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/apt-daily.timer"
ln -sf /dev/null "$root/etc/systemd/system/apt-daily-upgrade.timer"
sed -i 's/^#\?ShowStatus=.*/ShowStatus=no/' "$root/etc/systemd/system.conf"
echo 'root:rme' | chroot "$root" chpasswd
rm -rf "$root/var/cache/apt/"*.bin "$root/var/lib/apt/lists/"* "$root/var/log/"*.log
rm -f "$root/etc/machine-id" && touch "$root/etc/machine-id"
"""

STAGE_VERSION = 4
# zstd in 256 KiB blocks: xz in 1 MiB blocks was 8 % smaller but booted far slower under TCG (every
# random read of a small file decompressed a whole megabyte with the slowest decoder).
SQUASHFS_OPTIONS: tuple[str, ...] = ("-comp", "zstd", "-Xcompression-level", "19", "-b", "256K")


def mirror_source() -> Path:
    """This machine's apt sources (the only mirror reachable here)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        return path
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file() and legacy.read_text().strip():
        return legacy
    raise FileNotFoundError("no apt sources found in /etc/apt (sources.list or sources.list.d/*.sources)")


def stage_key(epoch: int) -> str:
    return digest_of(
        {
            "v": STAGE_VERSION,
            "suite": packages.SUITE,
            "packages": packages.PACKAGES,
            "pruned": packages.PRUNED_MODULES,
            "excludes": packages.DPKG_EXCLUDES,
            "includes": packages.DPKG_INCLUDES,
            "hook": CUSTOMIZE,
            "initramfs": INITRAMFS_HOOK,
            "squashfs": SQUASHFS_OPTIONS,
            "epoch": epoch,
            "sources": mirror_source().read_text(),
        }
    )


def build_base(cache: Path, epoch: int, log: Path | None = None) -> Path:
    """The cached stage folder holding `filesystem.squashfs`, `vmlinuz`, `initrd.img`."""
    stage = Stage(cache, "base", stage_key(epoch))
    if stage.done:
        return stage.path
    out = stage.begin()
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "DEBIAN_FRONTEND": "noninteractive"}
    with tempfile.TemporaryDirectory(prefix="rme-rescue-root-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        hook = Path(tmp) / "customize.sh"
        initramfs_hook = Path(tmp) / "rme-initramfs-hook"
        initramfs_hook.write_text(INITRAMFS_HOOK)
        hook.write_text(
            CUSTOMIZE.replace("{pruned}", " ".join(packages.PRUNED_MODULES)).replace(
                "{hook}", str(initramfs_hook)
            )
        )
        dpkgopts = [f"--dpkgopt=path-exclude={p}" for p in packages.DPKG_EXCLUDES] + [
            f"--dpkgopt=path-include={p}" for p in packages.DPKG_INCLUDES
        ]
        cmd = [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            '--aptopt=APT::Install-Recommends "false"',
            *dpkgopts,
            f"--include={','.join(packages.PACKAGES)}",
            f'--customize-hook=sh {hook} "$1"',
            packages.SUITE,
            str(root),
            str(mirror_source()),
        ]
        _run(cmd, env, log)
        boot = root / "boot"
        kernel = next(boot.glob("vmlinuz-*"))
        initrd = next(boot.glob("initrd.img-*"))
        shutil.copyfile(kernel, out / "vmlinuz")
        shutil.copyfile(initrd, out / "initrd.img")
        _run(
            [
                "mksquashfs",
                str(root),
                str(out / "filesystem.squashfs"),
                *SQUASHFS_OPTIONS,
                "-noappend",
                "-no-progress",
                "-e",
                "boot",
            ],
            env,
            log,
        )
    return stage.commit()


def _run(cmd: list[str], env: dict[str, str], log: Path | None) -> None:
    if log is None:
        subprocess.run(cmd, env=env, check=True)
        return
    with log.open("ab") as sink:
        sink.write(("$ " + " ".join(cmd) + "\n").encode())
        sink.flush()
        subprocess.run(cmd, env=env, check=True, stdout=sink, stderr=subprocess.STDOUT)
