"""Probes below IP, on Linux through AF_PACKET sockets (CAP_NET_RAW): PPPoE discovery and a DHCP
discover. Both work on an adapter that has no IPv4 address, which is exactly when they are needed.

- PPPoE (RFC 2516 §5.1): broadcast a PADI with a random Host-Uniq; the first PADO that echoes it names
  the access concentrator. We never send a PADR, so no session is started on the concentrator.
- DHCP (RFC 2131 §4.4.1): broadcast a DHCPDISCOVER with a random xid and the broadcast flag; the first
  DHCPOFFER for that xid names the server, the offered address, router and DNS. We never send a
  DHCPREQUEST, so nothing is leased (the server may hold the offer for a moment, as for any client).

The frame builders and parsers are pure and tested on bytes; the socket part is tested in the fault lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import TypeVar

from agent.diagnosis.arp import BROADCAST, _mac_bytes
from agent.diagnosis.facts import DhcpProbe, PppoeDiscovery

ETH_P_PPPOE_DISC = 0x8863
ETH_P_IP = 0x0800
PADI, PADO = 0x09, 0x07
TAG_END, TAG_SERVICE, TAG_AC_NAME, TAG_HOST_UNIQ = 0x0000, 0x0101, 0x0102, 0x0103
DHCP_MAGIC = b"\x63\x82\x53\x63"
DHCPDISCOVER, DHCPOFFER = 1, 2
RESEND_EVERY_S = 0.5  # one lost broadcast must not decide the answer

T = TypeVar("T")


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


# --- PPPoE -------------------------------------------------------------------------------------------------


def padi_frame(src_mac: str, host_uniq: bytes) -> bytes:
    tags = struct.pack("!HH", TAG_SERVICE, 0) + struct.pack("!HH", TAG_HOST_UNIQ, len(host_uniq)) + host_uniq
    header = struct.pack("!BBHH", 0x11, PADI, 0, len(tags))
    return BROADCAST + _mac_bytes(src_mac) + struct.pack("!H", ETH_P_PPPOE_DISC) + header + tags


def parse_tags(payload: bytes) -> dict[int, bytes]:
    tags: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(payload):
        kind, length = struct.unpack("!HH", payload[offset : offset + 4])
        if kind == TAG_END:
            break
        tags.setdefault(kind, payload[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return tags


def parse_pado(frame: bytes, host_uniq: bytes) -> tuple[str, str | None, str | None] | None:
    """(concentrator MAC, AC-Name, Service-Name) if `frame` is a PADO answering our PADI."""
    if len(frame) < 20 or struct.unpack("!H", frame[12:14])[0] != ETH_P_PPPOE_DISC:
        return None
    ver_type, code, _session, length = struct.unpack("!BBHH", frame[14:20])
    if ver_type != 0x11 or code != PADO:
        return None
    tags = parse_tags(frame[20 : 20 + length])
    if tags.get(TAG_HOST_UNIQ) != host_uniq:
        return None
    name = tags.get(TAG_AC_NAME)
    service = tags.get(TAG_SERVICE)
    return (
        _mac_text(frame[6:12]),
        name.decode("utf-8", "replace") if name else None,
        service.decode("utf-8", "replace") if service else None,
    )


# --- DHCP --------------------------------------------------------------------------------------------------


def _ip_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def discover_frame(src_mac: str, xid: int) -> bytes:
    mac = _mac_bytes(src_mac)
    options = bytes([53, 1, DHCPDISCOVER, 55, 4, 1, 3, 6, 54, 255])
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, *(b"\0" * 4,) * 4,
                        mac + b"\0" * 10, b"", b"")  # fmt: skip
    payload = bootp + DHCP_MAGIC + options
    payload += b"\0" * max(0, 300 - len(payload))  # BOOTP's minimum message size
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload  # checksum 0: none (RFC 768)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\0" * 4, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    return BROADCAST + mac + struct.pack("!H", ETH_P_IP) + ip + udp


def parse_dhcp_options(data: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        kind = data[offset]
        if kind == 255:
            break
        if kind == 0:
            offset += 1
            continue
        if offset + 1 >= len(data):
            break
        length = data[offset + 1]
        options.setdefault(kind, data[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return options


def parse_offer(frame: bytes, xid: int) -> tuple[str, str | None, str | None, tuple[str, ...]] | None:
    """(offered address, server, router, DNS servers) if `frame` is a DHCPOFFER for `xid`."""
    if len(frame) < 14 + 20 + 8 + 240 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != 17:
        return None
    udp = 14 + ihl
    if struct.unpack("!H", frame[udp + 2 : udp + 4])[0] != 68:
        return None
    bootp = frame[udp + 8 :]
    if len(bootp) < 240 or bootp[0] != 2 or struct.unpack("!I", bootp[4:8])[0] != xid:
        return None
    if bootp[236:240] != DHCP_MAGIC:
        return None
    options = parse_dhcp_options(bootp[240:])
    if options.get(53) != bytes([DHCPOFFER]):
        return None

    def addresses(code: int) -> tuple[str, ...]:
        raw = options.get(code, b"")
        return tuple(socket.inet_ntoa(raw[i : i + 4]) for i in range(0, len(raw) - 3, 4))

    server = addresses(54) or (socket.inet_ntoa(frame[26:30]),)
    routers = addresses(3)
    return socket.inet_ntoa(bootp[16:20]), server[0], routers[0] if routers else None, addresses(6)


# --- the socket part --------------------------------------------------------------------------------------


async def _broadcast_and_wait(
    interface: str, ethertype: int, frame: bytes, match: Callable[[bytes], T | None], timeout_s: float
) -> tuple[T | None, float, str | None]:
    """Send `frame` every RESEND_EVERY_S until `match` accepts a received frame or time runs out.
    Returns (match, elapsed ms, error) — error is set only when the socket cannot be used."""
    start = time.perf_counter()
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        sock.bind((interface, ethertype))
    except (OSError, AttributeError) as exc:
        return None, 0.0, f"{type(exc).__name__}: {exc}"
    loop = asyncio.get_running_loop()
    with sock:
        sock.setblocking(False)

        async def resend() -> None:
            while True:
                with contextlib.suppress(OSError):
                    await loop.sock_sendall(sock, frame)
                await asyncio.sleep(RESEND_EVERY_S)

        sender = asyncio.ensure_future(resend())
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    found = match(await loop.sock_recv(sock, 4096))
                    if found is not None:
                        return found, round((time.perf_counter() - start) * 1000, 1), None
        except (TimeoutError, OSError):
            return None, round((time.perf_counter() - start) * 1000, 1), None
        finally:
            sender.cancel()


async def pppoe_discover(interface: str, mac: str, timeout_s: float) -> PppoeDiscovery:
    host_uniq = os.urandom(8)
    found, elapsed, error = await _broadcast_and_wait(
        interface, ETH_P_PPPOE_DISC, padi_frame(mac, host_uniq), lambda f: parse_pado(f, host_uniq), timeout_s
    )
    if found is None:
        return PppoeDiscovery(interface=interface, answered=False, latency_ms=elapsed or None, error=error)
    ac_mac, name, service = found
    return PppoeDiscovery(
        interface=interface,
        answered=True,
        concentrator=name,
        concentrator_mac=ac_mac,
        service=service,
        latency_ms=elapsed,
    )


async def dhcp_discover(interface: str, mac: str, timeout_s: float) -> DhcpProbe:
    xid = int.from_bytes(os.urandom(4), "big")
    found, elapsed, error = await _broadcast_and_wait(
        interface, ETH_P_IP, discover_frame(mac, xid), lambda f: parse_offer(f, xid), timeout_s
    )
    if found is None:
        return DhcpProbe(interface=interface, answered=False, latency_ms=elapsed or None, error=error)
    offered, server, router, dns = found
    return DhcpProbe(
        interface=interface,
        answered=True,
        server=server,
        offered=offered,
        router=router,
        dns=dns,
        latency_ms=elapsed,
    )
