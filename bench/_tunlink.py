"""A userspace point-to-point link with a fixed one-way delay, for kernels without `tc netem`.

python -m bench._tunlink A B [C D ...]

creates TUN devices A and B (and C, D, …) in this process's network namespace and copies every IP
packet A → B and B → A (C ⇄ D, …) after the current one-way delay; the caller moves each device into
its namespace and routes through it (`bench._netpath`). It prints `ready`, then reads commands on
stdin: `delay MS` sets the one-way delay of every link (answers `ok`); end of input stops it.

Each direction has a reader thread (blocking `read`) and, when the delay is not 0, a writer thread that
sleeps until each packet is due (`time.sleep` is accurate to tens of µs here; an event loop's timers
round to whole milliseconds). The delay is constant per packet, so FIFO order is due order.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import struct
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65536


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Link:
    """Both directions between two TUN file descriptors."""

    def __init__(self, a: int, b: int) -> None:
        self.delay_s = 0.0
        for src, dst in ((a, b), (b, a)):
            pending: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
            threading.Thread(target=self._read, args=(src, dst, pending), daemon=True).start()
            threading.Thread(target=self._write, args=(dst, pending), daemon=True).start()

    def _read(self, src: int, dst: int, pending: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        while True:
            packet = os.read(src, MAX_PACKET)
            delay = self.delay_s
            if delay <= 0:
                _deliver(dst, packet)
            else:
                pending.put((time.perf_counter() + delay, packet))

    @staticmethod
    def _write(dst: int, pending: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        while True:
            due, packet = pending.get()
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            _deliver(dst, packet)


def _deliver(dst: int, packet: bytes) -> None:
    # The far end is down (not yet up, or going away): the packet is lost, as on a wire.
    with contextlib.suppress(OSError):
        os.write(dst, packet)


def main(names: list[str]) -> None:
    if len(names) < 2 or len(names) % 2:
        raise SystemExit("usage: python -m bench._tunlink A B [C D ...]")
    fds = [open_tun(name) for name in names]
    links = [Link(fds[i], fds[i + 1]) for i in range(0, len(fds), 2)]
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0] == "delay":
            for link in links:
                link.delay_s = float(words[1]) / 1000.0
            print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
