"""A QEMU guest for the rescue tests: KVM when /dev/kvm works (else TCG), user-mode networking
restricted to one guest forward (10.0.2.100:PORT → the test server on 127.0.0.1 through `socat`),
the serial console on a Unix socket (read into a buffer, keys written to it), the monitor on another
(`screendump`, `sendkey`). Nothing reaches beyond the host's loopback: `restrict=on` drops every other
packet the guest sends."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

GUEST_SERVER = "10.0.2.100"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


_KVM: dict[str, bool] = {}


def kvm_works(iso: Path) -> bool:
    """/dev/kvm opens and really runs a guest: here (nested) it opens but a kernel never prints a line,
    so the ISO's own kernel gets 10 s to say "Linux version" on the serial port, once per run."""
    if "kvm" in _KVM:
        return _KVM["kvm"]
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        _KVM["kvm"] = False
        return False
    with tempfile.TemporaryDirectory(prefix="rme-kvm-") as tmp:
        kernel, serial = Path(tmp) / "vmlinuz", Path(tmp) / "serial.log"
        subprocess.run(
            ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/live/vmlinuz", str(kernel)],
            capture_output=True,
            check=False,
            timeout=60,
        )
        proc = subprocess.Popen(
            [
                "qemu-system-x86_64",
                "-accel",
                "kvm",
                "-m",
                "256",
                "-nodefaults",
                "-display",
                "none",
                "-serial",
                f"file:{serial}",
                "-kernel",
                str(kernel),
                "-append",
                "console=ttyS0",
                "-no-reboot",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        works = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if serial.exists() and b"Linux version" in serial.read_bytes():
                works = True
                break
            time.sleep(0.2)
        proc.kill()
        proc.wait(5)
    _KVM["kvm"] = works
    return works


@dataclass
class Guest:
    proc: subprocess.Popen[bytes]
    serial: socket.socket
    monitor_path: Path
    log: Path
    buffer: bytearray = field(default_factory=bytearray)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _pump(self) -> None:
        with self.log.open("ab") as sink:
            while True:
                try:
                    data = self.serial.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                sink.write(data)
                sink.flush()
                with self.lock:
                    self.buffer += data

    def text(self) -> str:
        with self.lock:
            return ANSI.sub("", self.buffer.decode("utf-8", "replace"))

    def screen(self) -> str:
        """The last frame the rescue screen drew (it clears the screen before each)."""
        with self.lock:
            raw = self.buffer.decode("utf-8", "replace")
        return ANSI.sub("", raw.rsplit("\x1b[2J", 1)[-1])

    def wait_for(self, pattern: str, timeout: float = 120.0, *, since: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            found = regex.search(self.text(), since)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise TimeoutError(f"no {pattern!r} on the serial console; last screen:\n{self.screen()[-3000:]}")

    def mark(self) -> int:
        return len(self.text())

    def key(self, keys: str) -> None:
        self.serial.sendall(keys.encode())

    def monitor(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.monitor_path))
            sock.settimeout(10)
            sock.sendall(command.encode() + b"\n")
            time.sleep(0.5)
            with contextlib.suppress(TimeoutError):
                return sock.recv(65536).decode("utf-8", "replace")
        return ""

    def screendump(self, path: Path) -> None:
        self.monitor(f"screendump {path}")


@contextlib.contextmanager
def boot(
    work: Path,
    iso: Path | None,
    *,
    server_port: int,
    guest_port: int,
    disks: list[Path] = (),  # type: ignore[assignment]
    usb: Path | None = None,
    memory: int = 1024,
    cpus: int = 2,
    uefi: bool = False,
    probe: Path | None = None,
    iso_on_usb: bool = False,
    pppoe_port: int | None = None,
) -> Iterator[Guest]:
    """`iso` None: no CD, the first disk boots (the hard-disk edition); `probe` then names the ISO
    whose kernel `kvm_works` tries. `iso_on_usb`: the ISO written raw to a USB stick (on xHCI) and
    booted from it, not from a CD. `pppoe_port`: a first network card (eth0) whose Ethernet frames go
    as UDP datagrams to that port on the loopback (`tests/rescue/pppoe_ac.py`); the server's card is
    then eth1."""
    work.mkdir(parents=True, exist_ok=True)
    serial_path = work / "serial.sock"
    monitor_path = work / "monitor.sock"
    socat = shutil.which("socat") or "socat"
    fwd = f"guestfwd=tcp:{GUEST_SERVER}:{guest_port}-cmd:{socat} - TCP:127.0.0.1:{server_port}"
    probe = probe or iso
    accel = ["-accel", "kvm"] if probe is not None and kvm_works(probe) else ["-accel", "tcg"]
    cmd = [
        "qemu-system-x86_64",
        *accel,
        "-m",
        str(memory),
        "-smp",
        str(cpus),
        "-nodefaults",
        "-vga",
        "std",
        "-display",
        "none",
        "-no-reboot",
        "-chardev",
        f"socket,id=ser,path={serial_path},server=on,wait=on",
        "-serial",
        "chardev:ser",
        "-monitor",
        f"unix:{monitor_path},server=on,wait=off",
        "-device",
        "virtio-rng-pci",  # entropy: without it systemd waits ~40 s for the kernel's pool under TCG
    ]
    if pppoe_port is not None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_sock:
            probe_sock.bind(("127.0.0.1", 0))
            own = probe_sock.getsockname()[1]
        cmd += [
            "-netdev",
            f"dgram,id=dsl,local.type=inet,local.host=127.0.0.1,local.port={own},"
            f"remote.type=inet,remote.host=127.0.0.1,remote.port={pppoe_port}",
            "-device",
            "virtio-net-pci,netdev=dsl,mac=52:54:00:12:34:99",
        ]
    cmd += [
        "-netdev",
        f"user,id=net0,restrict=on,{fwd}",
        "-device",
        "virtio-net-pci,netdev=net0",
    ]
    if usb is not None or iso_on_usb:
        cmd += ["-device", "qemu-xhci,id=xhci"]
    if iso is not None and iso_on_usb:
        cmd += [
            "-drive",
            f"if=none,id=stick,file={iso},format=raw,readonly=on",
            "-device",
            "usb-storage,bus=xhci.0,drive=stick,bootindex=0",
        ]
    elif iso is not None:
        cmd += ["-drive", f"file={iso},media=cdrom,readonly=on,if=ide,index=0", "-boot", "d"]
    else:
        cmd += ["-boot", "c"]
    if uefi:  # OVMF (UEFI firmware): the ISO's EFI boot image, GRUB for x86_64-efi
        cmd += ["-bios", "/usr/share/ovmf/OVMF.fd"]
    for i, disk in enumerate(disks):
        cmd += ["-drive", f"file={disk},format=raw,if=virtio,index={i}"]
    if usb is not None:
        cmd += [
            "-drive",
            f"if=none,id=usbdisk,file={usb},format=raw",
            "-device",
            "usb-storage,bus=xhci.0,drive=usbdisk,removable=on",
        ]
    log = work / "qemu.log"
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        serial = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 20
        while True:
            try:
                serial.connect(str(serial_path))
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"qemu did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        guest = Guest(proc, serial, monitor_path, work / "serial.log")
        threading.Thread(target=guest._pump, daemon=True).start()
        yield guest
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        with contextlib.suppress(OSError, UnboundLocalError):
            serial.close()


def ppm_to_png(ppm: Path, png: Path) -> None:
    """QEMU's `screendump` writes binary PPM (P6); the docs want PNG. Pure Python: zlib + the PNG chunks."""
    import struct
    import zlib

    data = ppm.read_bytes()
    parts = data.split(maxsplit=4)
    if parts[0] != b"P6":
        raise ValueError(f"{ppm} is not a binary PPM")
    width, height, pixels = int(parts[1]), int(parts[2]), parts[4]
    row = width * 3
    raw = b"".join(b"\0" + pixels[y * row : (y + 1) * row] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
