"""ARP on Linux through an AF_PACKET socket (needs CAP_NET_RAW; returns None without it).

Two uses: "does the gateway answer at all?" (a fresh who-has, so a stale neighbour-table entry cannot
fool us), and RFC 5227 address-conflict detection (a probe with sender 0.0.0.0 for our own address:
any reply comes from another machine using it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time

ETH_P_ARP = 0x0806
UNSPECIFIED = "0.0.0.0"  # noqa: S104  (RFC 5227 probe sender address, not a bind)
BROADCAST = b"\xff" * 6
ARP_REQUEST, ARP_REPLY = 1, 2


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def arp_frame(src_mac: str, sender_ip: str, target_ip: str) -> bytes:
    """An Ethernet broadcast frame carrying an ARP who-has `target_ip`."""
    mac = _mac_bytes(src_mac)
    arp = struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        ARP_REQUEST,
        mac,
        socket.inet_aton(sender_ip),
        b"\0" * 6,
        socket.inet_aton(target_ip),
    )
    return BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp


def parse_arp_reply(frame: bytes) -> tuple[str, str] | None:
    """(sender IP, sender MAC) of an ARP reply frame, else None."""
    if len(frame) < 42 or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    oper = struct.unpack("!H", frame[20:22])[0]
    if oper != ARP_REPLY:
        return None
    sha, spa = frame[22:28], frame[28:32]
    return socket.inet_ntoa(spa), ":".join(f"{b:02x}" for b in sha)


async def arp_ask(
    interface: str,
    src_mac: str,
    sender_ip: str,
    target_ip: str,
    *,
    timeout_s: float,
    resend_every: float = 0.25,
) -> tuple[str, float] | None:
    """Ask who has `target_ip`; (replying MAC, rtt ms) for the first reply, None on timeout or no permission.

    Replies from our own MAC are ignored (a conflict probe must hear someone else)."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except (OSError, AttributeError):
        return None
    loop = asyncio.get_running_loop()
    frame = arp_frame(src_mac, sender_ip, target_ip)
    own = src_mac.lower()
    with sock:
        try:
            sock.bind((interface, ETH_P_ARP))
        except OSError:
            return None
        sock.setblocking(False)
        start = time.perf_counter()

        async def resend() -> None:
            while True:
                with contextlib.suppress(OSError):
                    await loop.sock_sendall(sock, frame)
                await asyncio.sleep(resend_every)

        sender = asyncio.ensure_future(resend())
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    reply = parse_arp_reply(await loop.sock_recv(sock, 2048))
                    if reply is not None and reply[0] == target_ip and reply[1] != own:
                        return reply[1], round((time.perf_counter() - start) * 1000, 1)
        except (TimeoutError, OSError):
            return None
        finally:
            sender.cancel()
