"""Rescue image figures: ISO size, build time (warm cache; cold with RME_BENCH_RESCUE_COLD=1), boot →
agent online in the server under QEMU (TCG; KVM too when a probe guest runs), and data-rescue throughput
against `cp` of the same files between the same two virtual disks in the same guest.

`python -m bench.rescue` (root: the build runs mmdebstrap). The anchor for the copy is `cp -r` + `sync`
of the same folder between the same two virtual disks in the same guest, right after the rescue copy:
the bench boots the image from GRUB's command line (typed on the serial terminal) with
`systemd.debug-shell=1` added — a root shell on tty9, which only this bench asks for — switches to it
with the QEMU monitor's `sendkey` and types the `cp` there; the guest's own `date` times it and writes
the result to the serial console. (A consented `command` cannot be the anchor: its sandbox refuses
`mount`, by design.) The guest's page cache is dropped before `cp`, so both read from the disk. The
rescue copy's figure is the engineer's wall time from the user's Allow to the action result (which
includes reading every file back to check its hash, a second full read `cp` does not do).
RME_BENCH_RESCUE_MB sets the data size (default 64). The machine is shared: figures are noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from protocol.actions import RescueCopyOutcome, RescueCopyParams
from protocol.messages import ActionResult, SessionAccept, Welcome
from rescue.image import KERNEL_ARGS
from tests.e2e.harness import BIN, engineer
from tests.rescue import disks
from tests.rescue.harness import WORDS, allow_on_screen, issue, keepalive, rescue_server, wait, write_key
from tests.rescue.vm import Guest, boot, kvm_works

MB = int(os.environ.get("RME_BENCH_RESCUE_MB", "64"))


def build(tmp: Path, cache: Path | None) -> tuple[Path, float]:
    write_key(tmp / "keys")
    env = {**os.environ}
    if cache is not None:
        env["RME_RESCUE_CACHE"] = str(cache)
    started = time.monotonic()
    subprocess.run(
        [
            str(BIN / "rme-server"),
            "rescue",
            "build",
            "--out",
            str(tmp / "out"),
            "--data-dir",
            str(tmp / "keys"),
            "--log",
            str(tmp / "build.log"),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=7200,
    )
    return tmp / "out" / "rme-rescue.iso", time.monotonic() - started


# Typed in the guest's debug shell: mount the user's partition and the USB disk, drop the page cache,
# time `cp -r` + `sync` of the folder the rescue copied, report on the serial console, unmount.
CP = (
    "mkdir -p /run/a /run/b; mount -o ro /dev/vda1 /run/a; mount /dev/sda1 /run/b; sync; "
    "echo 3 >/proc/sys/vm/drop_caches; s=$(date +%s.%N); cp -r /run/a/home/zhang/data /run/b/cpanchor; "
    "sync; e=$(date +%s.%N); echo CPTIME $s $e >/dev/ttyS0; umount /run/a /run/b"
)
# QEMU `sendkey` names of the characters the command above uses (others are letters and digits).
KEYS = {" ": "spc", "-": "minus", "/": "slash", ".": "dot", ";": "semicolon", "=": "equal", ">": "shift-dot",
        "$": "shift-4", "%": "shift-5", "(": "shift-9", ")": "shift-0", "+": "shift-equal", "\n": "ret",
        "_": "shift-minus"}  # fmt: skip


def sendkey_commands(text: str) -> list[str]:
    """The monitor commands that type `text` on the guest's keyboard (US layout)."""
    out = []
    for char in text:
        if char in KEYS:
            out.append(f"sendkey {KEYS[char]}")
        elif char.isascii() and char.isalnum():
            out.append(f"sendkey shift-{char.lower()}" if char.isupper() else f"sendkey {char}")
        else:
            raise ValueError(f"no key for {char!r}")
    return out


def type_on_guest(guest: Guest, text: str) -> None:
    """Keys through one monitor connection (one per key would cost half a second each)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(guest.monitor_path))
        for command in sendkey_commands(text):
            sock.sendall(command.encode() + b"\n")
            time.sleep(0.03)
        time.sleep(0.5)


async def boot_with_debug_shell(guest: Guest) -> None:
    """At GRUB's menu (3 s countdown, on the serial terminal too): `c`, then the entry's own lines with
    `systemd.debug-shell=1` added, so the guest has a root shell on tty9 for the anchor."""
    await wait(guest, r"RME Rescue", 120)
    guest.key("c")
    await wait(guest, r"grub>", 20)
    for line in (
        f"linux /live/vmlinuz {KERNEL_ARGS} systemd.debug-shell=1",
        "initrd /live/initrd.img",
        "boot",
    ):
        guest.key(line + "\r")
        await asyncio.sleep(1.0)


async def boot_and_copy(tmp: Path, iso: Path, accel_kvm: bool) -> dict[str, float | str]:
    import tests.rescue.vm as vm

    vm._KVM["kvm"] = accel_kvm
    out: dict[str, float | str] = {}
    files = {f"data/f{i:02d}.bin": os.urandom(MB * (1 << 20) // 16) for i in range(16)}
    broken, usb = tmp / "broken.img", tmp / "usb.img"
    disks.broken_disk(broken, files, {"x.txt": b"x"}, ext_mib=MB + 24)
    disks.usb_disk(usb, size=(2 * MB + 48) << 20)
    with rescue_server(tmp / "srv") as server:
        customer_iso = issue(server, iso, tmp / "customer.iso")
        async with engineer(server) as eng, keepalive(eng):
            await eng.expect(Welcome)
            with boot(
                tmp / "vm",
                customer_iso,
                server_port=server.port,
                guest_port=server.port,
                disks=[broken],
                usb=usb,
            ) as guest:
                started = time.monotonic()
                await boot_with_debug_shell(guest)
                await wait(guest, r"RME-STATE: ", 900)
                out["boot_to_screen_s"] = round(time.monotonic() - started, 1)
                await wait(guest, r"RME-STATE: online", 900)
                out["boot_to_online_s"] = round(time.monotonic() - started, 1)
                async with asyncio.timeout(300):
                    while True:
                        try:
                            await eng.accept_ticket_of(WORDS)
                            break
                        except TimeoutError:
                            continue
                out["boot_to_ticket_s"] = round(time.monotonic() - started, 1)
                await allow_on_screen(guest, "session", 0)
                session = (await eng.expect(SessionAccept, timeout=60)).session or ""
                mark = guest.mark()
                copy = await eng.request(
                    session,
                    RescueCopyParams(source="/dev/vda1", folders=["home/zhang/data"], target="/dev/sda1"),
                )
                await wait(guest, r"RME-PROMPT: action", 60, mark)
                t0 = time.monotonic()
                guest.key("y")
                result = await eng.expect(ActionResult, timeout=900, body__action_id=copy)
                took = time.monotonic() - t0
                assert isinstance(result.body.outcome, RescueCopyOutcome), result
                out["rescue_copy_MBps"] = round(MB / took, 1)
                # The anchor: the same folder, the same two disks, in the same guest, from tty9's shell.
                mark = guest.mark()
                guest.monitor("sendkey ctrl-alt-f9")
                await asyncio.sleep(2.0)
                await asyncio.to_thread(type_on_guest, guest, CP + "\n")
                found = await asyncio.to_thread(
                    guest.wait_for, r"CPTIME ([0-9.]+) ([0-9.]+)", 900, since=mark
                )
                out["cp_MBps"] = round(MB / (float(found.group(2)) - float(found.group(1))), 1)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rme-bench-rescue-") as tmp_name:
        tmp = Path(tmp_name)
        iso, warm = build(tmp / "warm", None)
        print(f"ISO size: {iso.stat().st_size / 1e6:.1f} MB (target < 250 MB)")
        print(f"build, warm cache: {warm:.1f} s")
        if os.environ.get("RME_BENCH_RESCUE_COLD") == "1":
            _iso, cold = build(tmp / "cold", tmp / "cold-cache")
            print(f"build, empty cache: {cold:.1f} s")
        for accel in [False, True] if kvm_works(iso) else [False]:
            (tmp / f"run-{accel}").mkdir()
            try:
                figures = asyncio.run(boot_and_copy(tmp / f"run-{accel}", iso, accel))
            except BaseException:
                kept = Path(tempfile.gettempdir()) / "rme-bench-rescue-serial.log"
                with contextlib.suppress(OSError):
                    shutil.copy(tmp / f"run-{accel}" / "vm" / "serial.log", kept)
                    print(f"the guest's serial console: {kept}")
                raise
            name = "KVM" if accel else "TCG"
            print(
                f"{name}: boot → rescue screen {figures['boot_to_screen_s']} s, → online "
                f"{figures['boot_to_online_s']} s (target < 120 s under TCG), → help request in the "
                f"engineer's queue {figures['boot_to_ticket_s']} s"
            )
            print(
                f"{name}: data rescue {figures['rescue_copy_MBps']} MB/s (copy + read-back check), "
                f"cp -r + sync {figures['cp_MBps']} MB/s, {MB} MB in 16 files"
            )
        if not kvm_works(iso):
            print("KVM: not measured (here /dev/kvm opens but a guest never runs: nested virtualisation)")


if __name__ == "__main__":
    main()
