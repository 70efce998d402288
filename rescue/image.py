"""Stage 2 and 3: the agent layer (a second squashfs that live-boot stacks on the base) and the hybrid
ISO (GRUB for BIOS and UEFI through `grub-mkrescue`, which drives xorriso). One file is the CD image and,
written raw, the USB image.

The agent layer holds the project's own packages (`rescue.packages.AGENT_PACKAGES`, byte-compiled), the
agent's third-party distributions copied from the running interpreter's site-packages (Debian 12's
python3 is 3.11, the same minor version the project targets, so wheels built for cp311 load as is), the
server's rescue public key, and the unit that starts `rme-agent rescue boot` on tty1 and ttyS0. It is
cached by the hash of those inputs; the base stage does not change when the agent does.
"""

from __future__ import annotations

import compileall
import importlib.metadata as md
import os
import py_compile
import re
import shutil
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

from rescue import packages
from rescue.bootstrap import SQUASHFS_OPTIONS, _run, build_base
from rescue.cache import Stage, cache_root, digest_of, digest_tree
from rescue.provision import empty_slot

PROJECT = Path(__file__).resolve().parent.parent
_TARGET = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "extra": "",
}
SLOT_PATH = "rme/provision.slot"
VOLUME_ID = "RME_RESCUE"
ISO_NAME = "rme-rescue.iso"
# `live-media-timeout=N` is not an upper bound: live-boot does not even start looking for the medium
# before N seconds (it cost 30 s of every boot); without it live-boot scans at once and retries every
# second for 60 s. `nonetworking` skips live-boot's ifupdown set-up (this image has no ifupdown), which
# re-triggered every udev event and waited for them to settle.
KERNEL_ARGS = (
    "boot=live quiet loglevel=3 systemd.show_status=0 console=tty0 console=ttyS0,115200n8 "
    "net.ifnames=0 nonetworking"
)

GRUB_CFG = """\
set timeout={timeout}
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "RME Rescue / 远程救援" {{
  linux /live/vmlinuz {args}
  initrd /live/initrd.img
}}
"""

# The agent starts once the journal and the local file systems are up, not after `basic.target`: it
# needs no udev coldplug (its ttys are there from the start, the network adapter is handled by
# `DHCP_UNIT` whenever udev finds it) and under emulation sysinit took 15-40 s more.
UNIT = """\
[Unit]
Description=RME rescue agent / 远程救援
DefaultDependencies=no
After=systemd-journald.socket local-fs.target systemd-tmpfiles-setup.service
Conflicts=shutdown.target
Before=shutdown.target
ConditionPathExists=/opt/rme/app/agent

[Service]
Type=simple
Environment=PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 LC_ALL=C.UTF-8
ExecStart=/usr/local/bin/rme-rescue-boot
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

# DHCP on every wired adapter the moment udev reports it (an adapter whose driver loads late, a USB
# adapter plugged in later), in parallel with the agent's start; the rescue screen waits for the
# address and runs `dhclient` itself when none comes.
DHCP_UNIT = """\
[Unit]
Description=DHCP on %I (RME rescue)
DefaultDependencies=no
BindsTo=sys-subsystem-net-devices-%i.device
After=sys-subsystem-net-devices-%i.device local-fs.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
ExecStart=/sbin/dhclient -4 -d -pf /run/dhclient.%I.pid %I
Restart=on-failure
RestartSec=3
"""
DHCP_RULE = (
    'ACTION=="add", SUBSYSTEM=="net", KERNEL!="lo", ENV{DEVTYPE}!="wlan", TEST=="device", '
    'TAG+="systemd", ENV{SYSTEMD_WANTS}+="rme-dhcp@%k.service"\n'
)

# The PC's screen in Chinese: the Linux console has no CJK glyphs, so once a framebuffer appears (udev,
# `FBTERM_RULE`) fbterm takes tty1 and draws with WenQuanYi; its child names its pseudo-terminal in
# /run/rme-fbterm.tty and the rescue screen moves there (`agent.rescue.fbterm`). Without a framebuffer
# (a BIOS PC whose graphics driver has no KMS) nothing starts and tty1 keeps the boxes.
FBTERM_UNIT = """\
[Unit]
Description=RME rescue screen in Chinese (fbterm on tty1)
DefaultDependencies=no
After=systemd-journald.socket local-fs.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Environment=HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8
ExecStart=/usr/bin/fbterm --font-names="WenQuanYi Micro Hei Mono" --font-size=18 -- \
  /bin/sh -c 'tty > /run/rme-fbterm.tty; exec sleep infinity'
ExecStopPost=/bin/rm -f /run/rme-fbterm.tty
StandardInput=tty-force
StandardOutput=tty
TTYPath=/dev/tty1
TTYReset=yes
Restart=always
RestartSec=2
"""
FBTERM_RULE = (
    'ACTION=="add", SUBSYSTEM=="graphics", KERNEL=="fb0", TAG+="systemd", '
    'ENV{SYSTEMD_WANTS}+="rme-fbterm.service"\n'
)

# Services a rescue boot does not need; each costs seconds of CPU under emulation. getty-static would
# start logins on tty2-6; the image keeps one, on tty2 (`GETTY`).
MASKED_UNITS = (
    "smartmontools.service",
    "smartd.service",
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "fstrim.timer",
    "dpkg-db-backup.timer",
    "systemd-journal-flush.service",
    "systemd-remount-fs.service",  # the overlay root is read-write from the start
    "systemd-sysusers.service",  # the system users were made when the image was built
    "systemd-random-seed.service",  # a live medium has no seed to load or keep
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-modules-load.service",  # nothing listed; udev loads drivers by device
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "dev-hugepages.mount",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "modprobe@configfs.service",
    "modprobe@dm_mod.service",
    "modprobe@efi_pstore.service",
    "getty-static.service",
)
GETTY = "getty@tty2.service"

WRAPPER = """\
#!/bin/sh
PYTHONPATH=/opt/rme/app:/opt/rme/lib exec /usr/bin/python3 \\
  -c 'import sys; from agent.cli import main; sys.exit(main())' "$@"
"""
# What the unit starts: the rescue screen without the command line's parser and sub-command registry
# (`rme-agent rescue boot --tty /dev/tty1 --tty /dev/ttyS0` does the same).
BOOT_ENTRY = """\
#!/bin/sh
PYTHONPATH=/opt/rme/app:/opt/rme/lib exec /usr/bin/python3 \\
  -c 'import sys; from agent.rescue.boot import main_on_consoles; sys.exit(main_on_consoles())'
"""


def _dist_closure(names: tuple[str, ...]) -> list[md.Distribution]:
    """The named distributions and their (non-extra) requirements that are installed here."""
    seen: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            # Markers judged for the live system: Linux, CPython 3.11, no extras.
            if req.marker is not None and not req.marker.evaluate(_TARGET):
                continue
            todo.append(req.name)
    return [seen[k] for k in sorted(seen)]


def _copy_dists(dists: list[md.Distribution], lib: Path) -> None:
    for dist in dists:
        for file in dist.files or []:
            if "__pycache__" in file.parts or file.parts[0] == ".." or str(file).endswith(".pyc"):
                continue
            src = Path(str(dist.locate_file(file)))
            if not src.is_file():
                continue
            dst = lib / file
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


def layer_key(public_key_hex: str) -> str:
    dists = _dist_closure(packages.AGENT_DISTRIBUTIONS)
    return digest_of(
        {
            "src": digest_tree(PROJECT, packages.AGENT_PACKAGES),
            "dists": [f"{d.metadata['Name']}=={d.version}" for d in dists],
            "key": public_key_hex,
            "unit": UNIT,
            "masked": MASKED_UNITS,
            "wrapper": WRAPPER,
            "entry": BOOT_ENTRY,
            "dhcp": [DHCP_UNIT, DHCP_RULE],
            "fbterm": [FBTERM_UNIT, FBTERM_RULE],
            "getty": GETTY,
            "squashfs": SQUASHFS_OPTIONS,
            "image": Path(__file__).read_bytes().hex()[-64:],
        }
    )


def build_layer(cache: Path, epoch: int, public_key_hex: str, log: Path | None = None) -> Path:
    """The cached stage folder holding `rme.squashfs`."""
    stage = Stage(cache, "layer", layer_key(public_key_hex))
    if stage.done:
        return stage.path
    out = stage.begin()
    root = out / "root"
    app = root / "opt/rme/app"
    for name in packages.AGENT_PACKAGES:
        shutil.copytree(
            PROJECT / name, app / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
        )
    _copy_dists(_dist_closure(packages.AGENT_DISTRIBUTIONS), root / "opt/rme/lib")
    compileall.compile_dir(
        root / "opt/rme",
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        ddir="/opt/rme",
    )
    (root / "opt/rme/rescue-signing.pub").write_text(public_key_hex + "\n")
    unit_dir = root / "etc/systemd/system"
    (unit_dir / "multi-user.target.wants").mkdir(parents=True)
    (unit_dir / "rme-rescue.service").write_text(UNIT)
    (unit_dir / "multi-user.target.wants/rme-rescue.service").symlink_to(
        "/etc/systemd/system/rme-rescue.service"
    )
    for unit in MASKED_UNITS:  # services a rescue boot does not need (each costs seconds under emulation)
        (unit_dir / unit).symlink_to("/dev/null")
    (unit_dir / "getty.target.wants").mkdir()
    (unit_dir / "getty.target.wants" / GETTY).symlink_to("/lib/systemd/system/getty@.service")
    (unit_dir / "rme-dhcp@.service").write_text(DHCP_UNIT)
    rules = root / "etc/udev/rules.d"
    rules.mkdir(parents=True)
    (rules / "80-rme-dhcp.rules").write_text(DHCP_RULE)
    (unit_dir / "rme-fbterm.service").write_text(FBTERM_UNIT)
    (rules / "80-rme-fbterm.rules").write_text(FBTERM_RULE)
    bin_dir = root / "usr/local/bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("rme-agent", WRAPPER), ("rme-rescue-boot", BOOT_ENTRY)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    _run(
        [
            "mksquashfs",
            str(root),
            str(out / "rme.squashfs"),
            *SQUASHFS_OPTIONS,
            "-noappend",
            "-no-progress",
            "-all-root",
        ],
        env,
        log,
    )
    shutil.rmtree(root)
    return stage.commit()


def build_iso(
    out_dir: Path,
    public_key_hex: str,
    epoch: int,
    *,
    cache: Path | None = None,
    log: Path | None = None,
    timeout: int = 3,
) -> Path:
    """Build (or take from the cache) the base ISO and copy it to `out_dir/rme-rescue.iso`."""
    cache = cache or cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    base = build_base(cache, epoch, log)
    layer = build_layer(cache, epoch, public_key_hex, log)
    stage = Stage(
        cache,
        "iso",
        digest_of(
            {
                "base": base.name,
                "layer": layer.name,
                "grub": GRUB_CFG,
                "args": KERNEL_ARGS,
                "t": timeout,
                "epoch": epoch,
            }
        ),
    )
    if not stage.done:
        work = stage.begin()
        tree = work / "tree"
        live = tree / "live"
        live.mkdir(parents=True)
        for name in ("vmlinuz", "initrd.img", "filesystem.squashfs"):
            os.link(base / name, live / name)
        os.link(layer / "rme.squashfs", live / "rme.squashfs")
        (tree / "boot/grub").mkdir(parents=True)
        (tree / "boot/grub/grub.cfg").write_text(GRUB_CFG.format(timeout=timeout, args=KERNEL_ARGS))
        (tree / "rme").mkdir()
        (tree / SLOT_PATH).write_bytes(empty_slot())
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
        _run(
            ["grub-mkrescue", "-o", str(work / ISO_NAME), str(tree), "--", "-volid", VOLUME_ID],
            env,
            log,
        )
        shutil.rmtree(tree)
        stage.commit()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ISO_NAME
    tmp = target.with_suffix(".part")
    shutil.copyfile(stage.path / ISO_NAME, tmp)
    tmp.replace(target)
    return target


def check_tools() -> list[str]:
    """The build tools that are missing here (the build needs root for mmdebstrap's root mode)."""
    return [
        t for t in ("mmdebstrap", "mksquashfs", "grub-mkrescue", "xorriso", "mformat") if not shutil.which(t)
    ]


def version_of(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout[:80]
