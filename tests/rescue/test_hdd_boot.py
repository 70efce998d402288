"""The hard-disk edition, really booted, and the Linux boot repair, really repaired and booted.

- `rme-agent rescue install-hdd` with an issued image onto a bootable Linux disk the test built
  (`tests/rescue/userdisk.py`: GRUB by grub-install, grub.cfg by update-grub), that disk booted in QEMU
  (no CD), the user picking "RME Rescue / 远程救援" in GRUB's menu with the arrow keys on the serial
  console (it is not the default entry), the rescue agent online in the server as a `[rescue]` device;
  then `uninstall-hdd` on the same disk: the regenerated menu has no rescue entry.
- In that rescue session the engineer's `rescue_boot_repair` with the user's Allow on the rescue
  screen, of a second disk whose boot code was wiped (BIOS) and of a third, GPT, whose EFI system
  partition is empty (UEFI): each then boots the user's system again (the third through OVMF).
- The boot-repair executor on a loop device (a wiped copy that does not boot), repaired, booted.

The guests are independent and run side by side (the loop-device repair and its small guests beside the
rescue guest), as test_rescue_boot.py does. They reach only the test's server (`restrict=on`, one
guest forward).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.executors.base import Job
from agent.executors.rescue_boot import BootRepairExecutor
from protocol.actions import RescueBootRepairOutcome, RescueBootRepairParams
from protocol.messages import ActionResult, ConsentReply, SessionAccept, Welcome
from tests.agent.executors.conftest import Recorder
from tests.e2e.harness import BIN, Engineer, RealServer, engineer
from tests.rescue import userdisk
from tests.rescue.harness import WORDS, allow_on_screen, issue, keepalive, rescue_server, wait, write_key
from tests.rescue.vm import Guest, boot

TOOLS = ("mmdebstrap", "mksquashfs", "grub-mkrescue", "xorriso", "qemu-system-x86_64", "socat", "losetup")
if os.environ.get("CI") != "true":
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing or os.geteuid() != 0:
        pytest.skip(f"hard-disk edition boot tests need root and {missing}", allow_module_level=True)

pytestmark = pytest.mark.timeout(3600)  # a cold cache bootstraps Debian first (see docs/rescue.md)

ENTRY = "RME Rescue"
DOWN = "\x1b[B"  # GRUB's serial terminal reads VT100 arrow keys


@pytest.fixture(scope="module")
def base_iso(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base image through `rme-server rescue build` (cached; the same stages test_rescue_boot uses)."""
    work = tmp_path_factory.mktemp("rescue-build")
    write_key(work / "keys")
    out = work / "out"
    result = subprocess.run(
        [str(BIN / "rme-server"), "rescue", "build", "--out", str(out), "--data-dir", str(work / "keys"),
         "--log", str(work / "build.log")],
        capture_output=True, text=True, timeout=3500, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:] + (work / "build.log").read_text()[-3000:]
    return out / "rme-rescue.iso"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    with rescue_server(tmp_path_factory.mktemp("rescue-server")) as running:
        yield running


def rescue_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "rescue", *args, "--lang", "en"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


async def pick_entry(guest: Guest, index: int) -> None:
    """The user's keys in GRUB's menu: the menu is up (the countdown runs), Down `index` times, Enter."""
    await wait(guest, r"GNU GRUB", 120)
    await wait(guest, r"\*UserOS GNU/Linux", 60)  # the user's system is the highlighted default
    guest.key(DOWN * index)
    await asyncio.sleep(1)
    guest.key("\r")


def wipe_boot(disk: Path, *, uefi: bool = False) -> None:
    """What breaks a Linux's start-up: the MBR's boot code zeroed (the partition table after it stays)
    and grub.cfg deleted; the UEFI disk's ESP is empty already (userdisk.py)."""
    if not uefi:
        with disk.open("r+b") as f:
            f.write(bytes(440))
    with userdisk.mounted_root(disk, 2 if uefi else 1) as (_loop, root):
        (root / "boot/grub/grub.cfg").unlink(missing_ok=uefi)


async def boots_to_the_user_os(work: Path, disk: Path, probe: Path, *, uefi: bool = False) -> None:
    """Power on, Enter in GRUB's menu, the marker. (GRUB under OVMF needs more than 256 MB: "out of
    memory" loading the kernel.)"""
    with boot(
        work,
        None,
        server_port=1,
        guest_port=1,
        disks=[disk],
        cpus=1,
        memory=512 if uefi else 256,
        probe=probe,
        uefi=uefi,
    ) as guest:
        await wait(guest, r"\*UserOS GNU/Linux", 120)
        # Enter, again if nothing boots: once in CI (OVMF, loaded machine) GRUB took the first Enter
        # as a key that stops the countdown, then sat in its menu for the rest of the two minutes.
        for attempt in range(3):
            mark = guest.mark()
            guest.key("\r")
            try:
                await wait(guest, r"Booting|Linux version|" + userdisk.USER_OS_MARKER, 30, mark)
                break
            except TimeoutError:
                if attempt == 2:
                    raise
        await wait(guest, userdisk.USER_OS_MARKER, 150)


@dataclass(frozen=True)
class Disks:
    iso: Path  # the image issued to the test customer
    hdd: Path  # the user's disk with the hard-disk edition installed
    cfg: str  # its grub.cfg after install-hdd
    slot: bytes  # the slot install-hdd copied
    in_guest: Path  # wiped: repaired by the rescue agent in the session
    on_loop: Path  # wiped: repaired by the executor on a loop device
    dead: Path  # wiped: booted as it is, to see it does not start
    uefi: Path  # GPT + an ESP without a boot loader, repaired in the guest, booted through OVMF


def prepare(server: RealServer, base_iso: Path, tmp_path: Path) -> Disks:
    """An issued image, the user's disk with the hard-disk edition installed through the real CLI, and
    two copies of the disk (before the install) whose boot code is wiped."""
    iso = issue(server, base_iso, tmp_path / "zhang.iso")
    disk = userdisk.user_disk(userdisk.kernel_of(base_iso, tmp_path / "vmlinuz"), tmp_path / "disk.img")
    in_guest = userdisk.copy(disk, tmp_path / "broken.img")
    wipe_boot(in_guest)
    on_loop = userdisk.copy(in_guest, tmp_path / "broken-loop.img")
    dead = userdisk.copy(in_guest, tmp_path / "dead.img")
    uefi = userdisk.user_disk(
        userdisk.kernel_of(base_iso, tmp_path / "vmlinuz"), tmp_path / "uefi.img", uefi=True
    )
    wipe_boot(uefi, uefi=True)
    with userdisk.mounted_root(disk) as (_loop, root):
        run = rescue_cli("install-hdd", "--iso", str(iso), "--root", str(root), "--yes")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Done." in run.stdout and "regenerate the boot menu by hand" not in run.stdout
        cfg = (root / "boot/grub/grub.cfg").read_text()
        slot = (root / "boot/rme-rescue/rme/provision.slot").read_bytes()
    return Disks(iso, disk, cfg, slot, in_guest, on_loop, dead, uefi)


async def rescue_session(eng: Engineer, server: RealServer, disks: Disks, work: Path, probe: Path) -> None:
    """Boot the user's disk, pick the rescue entry, online; the engineer's boot repair: refused for the
    disk the rescue system runs from (live-boot holds its partition), done with consent for the other."""
    index = userdisk.menu_index(disks.cfg, ENTRY)
    started = time.monotonic()
    port = server.port
    with boot(
        work,
        None,
        server_port=port,
        guest_port=port,
        disks=[disks.hdd, disks.in_guest, disks.uefi],
        probe=probe,
    ) as guest:
        await pick_entry(guest, index)
        await wait(guest, r"RME-STATE: online", 480)
        print(f"hard-disk edition: power on → online {time.monotonic() - started:.1f} s")
        assert "[rescue]" in server.admin("customer", "devices", server.customer)

        async with asyncio.timeout(180):  # the rescue agent diagnoses first (slow under TCG)
            while True:
                with contextlib.suppress(TimeoutError):
                    await eng.accept_ticket_of(WORDS)
                    break
        await allow_on_screen(guest, "session", 0)
        session = (await eng.expect(SessionAccept, timeout=60)).session or ""

        own = await eng.request(session, RescueBootRepairParams(disk="/dev/vda"))
        reply = await eng.expect(ConsentReply, timeout=60, body__action_id=own)
        assert reply.body.decision == "refused"  # by the agent, before the user is asked

        mark = guest.mark()
        fix = await eng.request(session, RescueBootRepairParams(disk="/dev/vdb"))
        await allow_on_screen(guest, "action", mark)
        asked = time.monotonic()
        result = await eng.expect(ActionResult, timeout=240, body__action_id=fix)
        print(f"boot repair in the rescue guest: Allow → result {time.monotonic() - asked:.1f} s")
        outcome = result.body.outcome
        assert isinstance(outcome, RescueBootRepairOutcome), result
        assert (outcome.root, outcome.bios, outcome.efi, outcome.menu) == ("/dev/vdb1", True, False, True)
        assert outcome.commands == ["grub-install --target=i386-pc /dev/vdb", "update-grub"]
        assert (outcome.backup or "").startswith("/boot/rme-rescue-backup/")
        await wait(guest, "Boot repair done", 30, mark)
        assert "启动修复完成" in guest.text()[mark:]

        mark = guest.mark()  # the UEFI disk, repaired from this BIOS-booted rescue system
        fix = await eng.request(session, RescueBootRepairParams(disk="/dev/vdc"))
        await allow_on_screen(guest, "action", mark)
        result = await eng.expect(ActionResult, timeout=240, body__action_id=fix)
        outcome = result.body.outcome
        assert isinstance(outcome, RescueBootRepairOutcome), result
        assert (outcome.root, outcome.bios, outcome.efi, outcome.menu) == ("/dev/vdc2", False, True, True)
        assert outcome.commands == [
            "grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram",
            "update-grub",
        ]


async def repair_on_a_loop_device(work: Path, disk: Path, dead_copy: Path, probe: Path) -> None:
    """The executor as the rescue agent runs it, on a loop device: the wiped disk does not boot (a copy
    powered on meanwhile shows no GRUB), the repair puts GRUB back with the disk's own grub-install and
    update-grub, the disk boots to the user's system."""
    with boot(work / "vm-dead", None, server_port=1, guest_port=1, disks=[dead_copy], cpus=1,
              memory=256, probe=probe) as dead:  # fmt: skip
        with userdisk.attached(disk) as (loop, _part):
            executor = BootRepairExecutor(enabled=True)
            params = RescueBootRepairParams(disk=loop)
            assert executor.refusal(params) is None
            recorder = Recorder({"r1"})
            started = time.monotonic()
            done = await executor.run(Job("r1", "s1", params, recorder))
            print(f"boot repair on a loop device: {time.monotonic() - started:.1f} s")
        await asyncio.sleep(max(0.0, 15 - (time.monotonic() - started)))
        assert "GRUB" not in dead.text()  # 15 s after power-on: nothing booted
    outcome = done.outcome
    assert isinstance(outcome, RescueBootRepairOutcome)
    assert (outcome.root, outcome.bios, outcome.efi, outcome.menu) == (f"{loop}p1", True, False, True)
    assert (outcome.system or "").startswith("Debian GNU/Linux 12")
    assert outcome.commands == [f"grub-install --target=i386-pc {loop}", "update-grub"]
    shown = [template.en for _kind, template, _detail, _fields in recorder.shown]
    assert shown[0].startswith("Boot repair done") and "Boot menu regenerated" in shown
    with disk.open("rb") as f:
        assert f.read(440) != bytes(440)
    with userdisk.mounted_root(disk) as (_loop, root):
        assert "UserOS GNU/Linux" in (root / "boot/grub/grub.cfg").read_text()
        # the way back, kept before anything was written: the disk's head as it was (wiped boot code)
        assert (outcome.backup or "").startswith("/boot/rme-rescue-backup/")
        kept = root / (outcome.backup or "").lstrip("/")
        head = (kept / "disk-head.bin").read_bytes()
        assert len(head) == 1 << 20 and head[:440] == bytes(440)
        assert not (kept / "grub.cfg").exists()  # the wiped disk had none
    await boots_to_the_user_os(work / "vm", disk, probe)


def uninstall(disk: Path) -> None:
    """`uninstall-hdd` on the user's disk: no entry in the regenerated menu, nothing of ours left."""
    with userdisk.mounted_root(disk) as (_loop, root):
        run = rescue_cli("uninstall-hdd", "--root", str(root))
        assert run.returncode == 0, run.stdout + run.stderr
        cfg = (root / "boot/grub/grub.cfg").read_text()
        assert ENTRY not in cfg and "rme-rescue" not in cfg
        assert not (root / "boot/rme-rescue").exists() and not (root / "etc/grub.d/42_rme_rescue").exists()
        assert "UserOS GNU/Linux" in cfg


async def test_hdd_edition_from_the_grub_menu_and_boot_repair(
    tmp_path: Path, base_iso: Path, server: RealServer
) -> None:
    # Logged in first (argon2 and a busy machine), kept alive while the disks are made and guests boot.
    async with engineer(server) as eng, keepalive(eng):
        await eng.expect(Welcome)
        disks = await asyncio.to_thread(prepare, server, base_iso, tmp_path)
        assert userdisk.menu_index(disks.cfg, ENTRY) > 0 and 'set default="0"' in disks.cfg  # not the default
        assert "rme.slot=/boot/rme-rescue/rme/provision.slot" in disks.cfg
        assert disks.slot.rstrip(b"\0") != b"" and disks.slot in disks.iso.read_bytes()  # the issued slot
        async with asyncio.TaskGroup() as group:
            group.create_task(rescue_session(eng, server, disks, tmp_path / "vm", base_iso))
            group.create_task(repair_on_a_loop_device(tmp_path / "loop", disks.on_loop, disks.dead, base_iso))
    await asyncio.gather(
        boots_to_the_user_os(tmp_path / "vm-repaired", disks.in_guest, base_iso),
        boots_to_the_user_os(tmp_path / "vm-uefi", disks.uefi, base_iso, uefi=True),
        asyncio.to_thread(uninstall, disks.hdd),
    )
