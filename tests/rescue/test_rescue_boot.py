"""The rescue image, really built and really booted in QEMU (KVM when it works, else TCG).

One base ISO (built through `rme-server rescue build`, cached outside the checkout by content hash),
issued to a customer with `rme-server rescue issue`, booted with a "broken" disk (ext4 + NTFS holding
known files, no system) and an empty USB disk. The guest reaches only the test's server, through
`restrict=on` user networking and one guest forward. The user's keys go in through the serial console,
where the rescue screen is drawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.actions import (
    RescueCopyOutcome,
    RescueCopyParams,
    RescueFsckOutcome,
    RescueFsckParams,
    RescueInventoryOutcome,
    RescueInventoryParams,
)
from protocol.messages import (
    ActionResult,
    ConsentReply,
    SessionAccept,
    SessionEnd,
    Welcome,
)
from rescue.provision import MAGIC, SLOT_SIZE, find_slot, open_slot
from tests.e2e.harness import BIN, RealServer, cli, engineer
from tests.rescue import disks
from tests.rescue.glyphs import draws_chinese
from tests.rescue.harness import (
    TEST_KEY,
    WORDS,
    allow_on_screen,
    issue,
    keepalive,
    rescue_server,
    wait,
    write_key,
)
from tests.rescue.pppoe_ac import AccessConcentrator
from tests.rescue.vm import boot, ppm_to_png

ACCOUNT, PASSWORD = "zhang@adsl", "Pa55-word-7"  # the broadband account typed on the rescue screen
TOOLS = (
    "mmdebstrap",
    "mksquashfs",
    "grub-mkrescue",
    "xorriso",
    "qemu-system-x86_64",
    "socat",
    "mkntfs",
    "mcopy",
)
if os.environ.get("CI") != "true":
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing or os.geteuid() != 0:
        pytest.skip(f"rescue image tests need root and {missing}", allow_module_level=True)

pytestmark = pytest.mark.timeout(3600)  # a cold cache bootstraps Debian first (see docs/rescue.md)


@pytest.fixture(scope="module")
def base_iso(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("rescue-build")
    write_key(work / "keys")
    out = work / "out"
    started = time.monotonic()
    result = subprocess.run(
        [
            str(BIN / "rme-server"),
            "rescue",
            "build",
            "--out",
            str(out),
            "--data-dir",
            str(work / "keys"),
            "--log",
            str(work / "build.log"),
        ],
        capture_output=True,
        text=True,
        timeout=3500,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:] + (work / "build.log").read_text()[-3000:]
    iso = out / "rme-rescue.iso"
    print(f"rescue build: {time.monotonic() - started:.1f} s, {iso.stat().st_size / 1e6:.1f} MB")
    assert iso.stat().st_size < 250_000_000
    return iso


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    with rescue_server(tmp_path_factory.mktemp("rescue-server")) as running:
        yield running


async def test_rescue_boot_enrolls_and_rescues_files_with_consent(
    tmp_path: Path, base_iso: Path, server: RealServer
) -> None:
    iso = issue(server, base_iso, tmp_path / "zhang.iso")
    ext4_files, ntfs_files = disks.known_files(1), disks.known_files(2)
    broken, usb = tmp_path / "broken.img", tmp_path / "usb.img"
    disks.broken_disk(broken, ext4_files, ntfs_files)
    disks.usb_disk(usb)
    broken_before = hashlib.sha256(broken.read_bytes()).hexdigest()
    port = server.port
    # Logged in first (argon2 and a busy TCG guest share two cores), kept alive while the guest boots.
    async with engineer(server) as eng, keepalive(eng):
        await eng.expect(Welcome)
        with (
            AccessConcentrator(ACCOUNT, PASSWORD) as dsl,
            boot(
                tmp_path / "vm",
                iso,
                server_port=port,
                guest_port=port,
                disks=[broken],
                usb=usb,
                pppoe_port=dsl.port,
            ) as guest,
        ):
            started = time.monotonic()
            await wait(guest, r"RME-STATE: online", 420)
            print(f"boot → online: {time.monotonic() - started:.1f} s")
            assert "[rescue]" in server.admin("customer", "devices", server.customer)
            # The PC's own screen draws the Chinese lines as Chinese (fbterm on the framebuffer).
            shot = tmp_path / "tty1.ppm"
            async with asyncio.timeout(60):
                while not (shot.exists() and draws_chinese(shot)):
                    await asyncio.to_thread(guest.screendump, shot)
            ppm_to_png(shot, tmp_path / "tty1.png")

            # PPPoE from the screen: P, then the account and the password the user types; the guest's
            # own pppd dials the concentrator on its first card (the server stays on the second).
            mark = guest.mark()
            guest.key("p")
            await wait(guest, "Broadband account:", 60, mark)
            guest.key(ACCOUNT + "\r")
            await wait(guest, "Broadband password:", 30, mark)
            guest.key(PASSWORD + "\r")
            await wait(guest, r"Dial-up connected: 10\.64\.0\.2", 120, mark)
            assert dsl.seen.auth == (ACCOUNT, PASSWORD) and dsl.seen.ipcp_up, dsl.seen.events
            assert "拨号成功" in guest.text()[mark:] and PASSWORD not in guest.text()  # typed as *

            async with asyncio.timeout(180):  # the rescue agent diagnoses first (slow under TCG)
                while True:
                    with contextlib.suppress(TimeoutError):
                        await eng.accept_ticket_of(WORDS)
                        break
            await allow_on_screen(guest, "session", 0)
            session = (await eng.expect(SessionAccept, timeout=60)).session or ""

            mark = guest.mark()
            inventory = await eng.request(session, RescueInventoryParams())
            await allow_on_screen(guest, "action", mark)
            result = await eng.expect(ActionResult, timeout=120, body__action_id=inventory)
            outcome = result.body.outcome
            assert isinstance(outcome, RescueInventoryOutcome), result
            by_device = {d.device: d for d in outcome.disks}
            internal, stick = by_device["/dev/vda"], by_device["/dev/sda"]
            assert [(p.device, p.fstype, p.label) for p in internal.partitions] == [
                ("/dev/vda1", "ext4", "LINUXDATA"),
                ("/dev/vda2", "ntfs", "WINDATA"),
            ]
            assert all(p.os is None for p in internal.partitions)  # no system on the broken disk
            assert stick.removable and not internal.removable

            for device, fstype in (("/dev/vda1", "ext4"), ("/dev/vda2", "ntfs")):
                mark = guest.mark()
                check = await eng.request(session, RescueFsckParams(device=device))
                if fstype == "ntfs":  # Allow on the PC's own keyboard: through fbterm to the screen
                    await wait(guest, r"RME-PROMPT: action", 60, mark)
                    await asyncio.to_thread(guest.monitor, "sendkey y")
                else:
                    await allow_on_screen(guest, "action", mark)
                result = await eng.expect(ActionResult, timeout=120, body__action_id=check)
                verdict = result.body.outcome
                assert isinstance(verdict, RescueFsckOutcome), result
                assert (verdict.fstype, verdict.exit_code, verdict.clean) == (fstype, 0, True)

            folders: list[str] = []
            for source, folder in (("/dev/vda1", "home/zhang"), ("/dev/vda2", "Users/Zhang/Documents")):
                mark = guest.mark()
                copy = await eng.request(
                    session, RescueCopyParams(source=source, folders=[folder], target="/dev/sda1")
                )
                await allow_on_screen(guest, "action", mark)
                result = await eng.expect(ActionResult, timeout=180, body__action_id=copy)
                done = result.body.outcome
                assert isinstance(done, RescueCopyOutcome), result
                assert (done.files, done.verified, done.failed) == (5, 5, 0)
                folders.append(done.folder)
                await asyncio.sleep(1.1)  # the folder name carries the second

            mark = guest.mark()
            denied = await eng.request(
                session, RescueCopyParams(source="/dev/vda1", folders=["home"], target="/dev/sda1")
            )
            await allow_on_screen(guest, "action", mark, key="n")
            reply = await eng.expect(ConsentReply, timeout=60, body__action_id=denied)
            assert reply.body.decision == "denied"

            mark = guest.mark()
            await eng.request(
                session, RescueCopyParams(source="/dev/vda1", folders=["home"], target="/dev/sda1")
            )
            await wait(guest, r"RME-PROMPT: action", 60, mark)
            pressed = time.monotonic()
            guest.key("k")
            await eng.expect(SessionEnd, timeout=30)
            print(f"kill key → engineer told: {time.monotonic() - pressed:.2f} s")
            await wait(guest, "Session ended", 30, mark)
            guest.screendump(tmp_path / "screen.ppm")
            # The diagnosis in words, and not about Debian's template dial-up nobody configured.
            assert "Diagnosis: The internet is not reachable." in guest.text()
            assert "dsl-provider" not in guest.text()
    rescued = disks.usb_files(usb, tmp_path / "usb-out")
    expected = {f"{folders[0]}/home/zhang/{k}": v for k, v in ext4_files.items()}
    expected |= {f"{folders[1]}/Users/Zhang/Documents/{k}": v for k, v in ntfs_files.items()}
    assert disks.digest(rescued) == disks.digest(expected)  # byte for byte; nothing from the denied one
    assert hashlib.sha256(broken.read_bytes()).hexdigest() == broken_before  # the source was read-only


def _tamper(iso: Path) -> Path:
    """One flipped bit inside the signed body of the slot."""
    offset = find_slot(iso)
    with iso.open("r+b") as f:
        f.seek(offset + len(MAGIC) + 8 + 20)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 1]))
    return iso


async def test_bad_signature_expired_and_reused_codes_are_refused_on_screen(
    tmp_path: Path, base_iso: Path, server: RealServer
) -> None:
    """Three guests at once (one vCPU each): a tampered blob (booted through UEFI firmware, OVMF), an
    expired code, a code already used (redeemed beforehand with `rme-agent enroll`, as a first boot of
    the same image would; this one boots from the image written raw to a USB stick, not a CD)."""
    tampered = _tamper(issue(server, base_iso, tmp_path / "tampered.iso"))
    expired = issue(server, base_iso, tmp_path / "expired.iso", ttl=1)
    used = issue(server, base_iso, tmp_path / "used.iso")
    code = open_slot(used.read_bytes()[find_slot(used) :][:SLOT_SIZE], TEST_KEY.public_key()).code
    cli(
        "rme-agent",
        "enroll",
        code,
        "--server",
        server.url,
        "--ca",
        str(server.ca),
        "--data-dir",
        str(tmp_path / "first-pc"),
    )
    await asyncio.sleep(1.5)  # the 1 s code has expired
    cases = {
        "tampered": (tampered, "refused:bad-signature", "签名无效", "signature does not verify"),
        "expired": (expired, "refused:code-expired", "注册码已过期", "enrollment code has expired"),
        "used": (used, "refused:code-used", "已被使用过", "already used"),
    }
    with contextlib.ExitStack() as stack:
        guests = {
            name: stack.enter_context(
                boot(
                    tmp_path / name,
                    iso,
                    server_port=server.port,
                    guest_port=server.port,
                    cpus=1,
                    memory=768,
                    uefi=name == "tampered",  # the same ISO through UEFI firmware (OVMF); the others BIOS
                    iso_on_usb=name == "used",  # the same file as a USB stick (hybrid ISO, raw)
                )
            )
            for name, (iso, *_rest) in cases.items()
        }
        for name, (_iso, state, zh, en) in cases.items():
            await wait(guests[name], rf"RME-STATE: {state}", 480)
            screen = guests[name].screen()
            assert zh in screen and en in screen, screen
