"""Probes of the path beyond the gateway: the MTU (echoes of several sizes with "don't fragment", all at
once), the router after ours (an echo with TTL 2) and the system proxy (the check URL through it).

ICMP uses the same sockets as `netprobe.icmp_echo`: a raw socket as root (which also hears "fragmentation
needed" and "time exceeded"), else the unprivileged ping socket (sizes only). `IP_PMTUDISC_PROBE` sets DF
and ignores the kernel's cached path MTU, so each size is really tried. Each probe has a hard timeout and
returns a fact; none raises on a network error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time

from agent.diagnosis.facts import MtuProbe, ProxyConfig, ProxyProbe
from agent.diagnosis.netprobe import _elapsed_ms, _open_icmp_socket, _parse_http, describe_error, echo_request

IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_PROBE = getattr(socket, "IP_PMTUDISC_PROBE", 3)
SMALL = 84  # bytes of IP packet: what every path carries
# Common path MTUs: Ethernet, PPPoE (1492), PPPoE + VLAN/DS-Lite/tunnels, and IPv6's minimum.
CANDIDATES = (1500, 1492, 1480, 1472, 1464, 1460, 1452, 1440, 1420, 1400, 1380, 1360, 1340, 1300, 1280)
ICMP_ECHO_REPLY, ICMP_UNREACH, ICMP_TIME_EXCEEDED, FRAG_NEEDED = 0, 3, 11, 4


def mtu_sizes(interface_mtu: int | None) -> list[int]:
    """The sizes to try: the adapter's MTU (the one that matters), then every smaller common one."""
    top = interface_mtu or 1500
    return [top, *(c for c in CANDIDATES if c < top)]


def parse_icmp(data: bytes, raw: bool) -> tuple[int, int, int, int, bytes] | None:
    """(type, code, id, seq, rest) of an ICMP message; for an error, id/seq are the quoted echo's."""
    offset = (data[0] & 0x0F) * 4 if raw else 0
    if len(data) < offset + 8:
        return None
    kind, code = data[offset], data[offset + 1]
    if kind in (ICMP_UNREACH, ICMP_TIME_EXCEEDED):
        inner = offset + 8
        if len(data) < inner + 20:
            return None
        quoted = inner + (data[inner] & 0x0F) * 4
        if len(data) < quoted + 8:
            return None
        ident, seq = struct.unpack("!HH", data[quoted + 4 : quoted + 8])
        return kind, code, ident, seq, data[offset + 4 : offset + 8]
    ident, seq = struct.unpack("!HH", data[offset + 4 : offset + 8])
    return kind, code, ident, seq, b""


async def mtu_probe(target: str, interface_mtu: int | None, timeout_s: float) -> MtuProbe:
    opened = _open_icmp_socket()
    if opened is None:
        return MtuProbe(target=target, interface_mtu=interface_mtu, error="ICMP not permitted")
    sock, raw = opened
    loop = asyncio.get_running_loop()
    ident = (os.getpid() + 0x4D54) & 0xFFFF
    sizes = mtu_sizes(interface_mtu)
    by_seq = {100 + i: size for i, size in enumerate([SMALL, *sizes])}
    answered: dict[int, bool] = dict.fromkeys(by_seq.values(), False)
    frag_mtu: int | None = None
    with sock:
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
            for seq, size in by_seq.items():
                payload = b"rme-mtu".ljust(size - 28, b".")
                await loop.sock_sendto(sock, echo_request(ident, seq, payload), (target, 0))
        except OSError as exc:
            return MtuProbe(target=target, interface_mtu=interface_mtu, error=describe_error(exc))
        try:
            async with asyncio.timeout(timeout_s):
                while not all(answered.values()):
                    data, peer = await loop.sock_recvfrom(sock, 65535)
                    parsed = parse_icmp(data, raw)
                    if parsed is None:
                        continue
                    kind, code, got_id, seq, rest = parsed
                    if seq not in by_seq or (raw and got_id != ident):
                        continue
                    if kind == ICMP_ECHO_REPLY and peer[0] == target:
                        answered[by_seq[seq]] = True
                    elif kind == ICMP_UNREACH and code == FRAG_NEEDED:
                        frag_mtu = struct.unpack("!H", rest[2:4])[0] or frag_mtu
        except (TimeoutError, OSError):
            pass
    return MtuProbe(
        target=target,
        interface_mtu=interface_mtu,
        small_ok=answered[SMALL],
        sizes={str(size): answered[size] for size in sizes},
        frag_needed_mtu=frag_mtu,
    )


async def second_hop(target: str, timeout_s: float) -> str | None:
    """The address of the router after ours: the source of "time exceeded" for an echo with TTL 2, or the
    target itself if it is only two hops away. None without a raw socket or an answer."""
    opened = _open_icmp_socket()
    if opened is None:
        return None
    sock, raw = opened
    if not raw:
        sock.close()
        return None  # a ping socket does not hear "time exceeded" without IP_RECVERR plumbing
    loop = asyncio.get_running_loop()
    ident, seq = (os.getpid() + 0x4E41) & 0xFFFF, 7
    with sock:
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 2)
            async with asyncio.timeout(timeout_s):
                await loop.sock_sendto(sock, echo_request(ident, seq), (target, 0))
                while True:
                    data, peer = await loop.sock_recvfrom(sock, 65535)
                    parsed = parse_icmp(data, raw)
                    if parsed is None or parsed[2] != ident or parsed[3] != seq:
                        continue
                    if parsed[0] in (ICMP_TIME_EXCEEDED, ICMP_ECHO_REPLY):
                        return str(peer[0])
        except (TimeoutError, OSError):
            return None


async def proxy_probe(proxy: ProxyConfig, url: str, timeout_s: float) -> ProxyProbe:
    """GET the check URL through the proxy (absolute-form request, RFC 9112 §3.2.2)."""
    start = time.perf_counter()
    host = url.split("/")[2]
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            try:
                request = f"GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rme-agent\r\n"
                request += "Connection: close\r\n\r\n"
                writer.write(request.encode("latin-1"))
                await writer.drain()
                raw = await reader.read(4096)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (TimeoutError, OSError) as exc:
        return ProxyProbe(
            proxy=proxy.url,
            source=proxy.source,
            connected=False,
            latency_ms=_elapsed_ms(start),
            error=describe_error(exc),
        )
    status = _parse_http(raw, "")[0]
    return ProxyProbe(
        proxy=proxy.url,
        source=proxy.source,
        connected=status is not None,
        status=status,
        latency_ms=_elapsed_ms(start),
        error=None if status is not None else "not an HTTP response",
    )
