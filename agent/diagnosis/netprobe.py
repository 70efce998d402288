"""Active probes that work the same on every OS: DNS queries (dnspython), TCP connects, the plain-HTTP
connectivity check, and ICMP echo over a socket (raw, or the unprivileged "ping socket" where the
kernel allows it). Each function has its own hard timeout and returns a fact; none raises on a network
error — the error becomes part of the fact."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Awaitable, Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from agent.diagnosis.facts import DnsAnswer, HttpProbe, ResolverProbe, TcpProbe

MAX_HTTP_BYTES = 16 * 1024


def _elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def describe_error(exc: BaseException) -> str:
    """A short, stable name for a network error: `timeout`, `ECONNREFUSED`, …"""
    if isinstance(exc, TimeoutError | dns.exception.Timeout):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# --- DNS --------------------------------------------------------------------------------------------------


class _DnsClient(asyncio.DatagramProtocol):
    """Receives the one datagram that answers our query (same id and question); ignores strays."""

    def __init__(self, query: dns.message.Message) -> None:
        self.query = query
        self.answer: asyncio.Future[dns.message.Message] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            message = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        if self.query.is_response(message) and not self.answer.done():
            self.answer.set_result(message)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _exchange_udp(
    query: dns.message.Message, server: str, port: int, resend_s: float
) -> dns.message.Message:
    """Send, and send again every `resend_s` until answered (the caller's deadline ends it): one lost
    datagram must not read as a dead resolver — every stub resolver retransmits the same way."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _DnsClient(query), remote_addr=(server, port)
    )
    wire = query.to_wire()
    try:
        while True:
            transport.sendto(wire)
            done, _ = await asyncio.wait({protocol.answer}, timeout=resend_s)
            if done:
                return protocol.answer.result()
    finally:
        transport.close()


async def _exchange_tcp(query: dns.message.Message, server: str, port: int) -> dns.message.Message:
    reader, writer = await asyncio.open_connection(server, port)
    try:
        wire = query.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        return dns.message.from_wire(await reader.readexactly(size))
    finally:
        writer.close()


async def dns_query(server: str, name: str, timeout_s: float, port: int = 53) -> DnsAnswer:
    """One A query over UDP (TCP if truncated). Never raises: failures are in `error`.

    The transport is a few lines of asyncio around dnspython's message codec (dnspython's own async
    query module costs a tenth of a second to import, which a diagnosis cannot afford)."""
    start = time.perf_counter()
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        async with asyncio.timeout(timeout_s):
            response = await _exchange_udp(query, server, port, resend_s=timeout_s / 3)
            if response.flags & dns.flags.TC:
                response = await _exchange_tcp(query, server, port)
    except (TimeoutError, dns.exception.DNSException, OSError, asyncio.IncompleteReadError) as exc:
        return DnsAnswer(name=name, latency_ms=_elapsed_ms(start), error=describe_error(exc))
    addresses = tuple(
        rdata.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for rdata in rrset
    )
    return DnsAnswer(
        name=name,
        rcode=dns.rcode.to_text(response.rcode()),
        addresses=addresses,
        latency_ms=_elapsed_ms(start),
    )


async def probe_resolver(
    server: str, known: Iterable[str], nonexistent: str | None, timeout_s: float
) -> ResolverProbe:
    """Known names and (optionally) a random name that must not exist, all at once."""
    names = list(known)
    queries = [dns_query(server, name, timeout_s) for name in names]
    if nonexistent is not None:
        queries.append(dns_query(server, nonexistent, timeout_s))
    answers = await asyncio.gather(*queries)
    return ResolverProbe(
        server=server,
        known=tuple(answers[: len(names)]),
        nonexistent=answers[-1] if nonexistent is not None else None,
    )


async def first_address(servers: Iterable[str], name: str, timeout_s: float) -> str | None:
    """Ask every server at once; the first A record wins and the other queries are cancelled."""
    tasks = [asyncio.ensure_future(dns_query(server, name, timeout_s)) for server in servers]
    try:
        for next_done in asyncio.as_completed(tasks):
            answer = await next_done
            if answer.addresses:
                return answer.addresses[0]
        return None
    finally:
        for task in tasks:
            task.cancel()


# --- TCP --------------------------------------------------------------------------------------------------


async def tcp_probe(host: str, port: int, timeout_s: float) -> TcpProbe:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except (TimeoutError, OSError) as exc:
        return TcpProbe(target=target, ok=False, latency_ms=_elapsed_ms(start), error=describe_error(exc))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return TcpProbe(target=target, ok=True, latency_ms=_elapsed_ms(start))


async def host_answers_tcp(host: str, port: int, timeout_s: float) -> bool:
    """True if the host answered a SYN at all: a refused connection (RST) proves it is there."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return True
    except (TimeoutError, OSError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


# --- HTTP connectivity check ------------------------------------------------------------------------------


def _parse_http(raw: bytes, expect: str) -> tuple[int | None, str | None, bool, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = (
        int(parts[1]) if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit() else None
    )
    location = None
    for line in lines[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == "location":
            location = value.strip()[:200]
    text = body.decode("utf-8", "replace")
    return status, location, expect in text, text[:120]


async def http_check(
    url: str, expect: str, resolve: Awaitable[tuple[str | None, str | None]], timeout_s: float
) -> HttpProbe:
    """GET `url` (plain HTTP, no redirects followed) and compare the body with `expect`.

    `resolve` yields (address, how) for the URL's host; it is awaited inside the same deadline."""
    start = time.perf_counter()
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    address: str | None = None
    via: str | None = None
    try:
        async with asyncio.timeout(timeout_s):
            address, via = await resolve
            if address is None:
                return HttpProbe(url=url, latency_ms=_elapsed_ms(start), error="cannot resolve " + host)
            reader, writer = await asyncio.open_connection(address, port)
            try:
                host_header = host if port == 80 else f"{host}:{port}"
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: rme-agent\r\n"
                    "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1")
                )
                await writer.drain()
                raw = await reader.read(MAX_HTTP_BYTES)
                while raw and len(raw) < MAX_HTTP_BYTES:
                    more = await reader.read(MAX_HTTP_BYTES - len(raw))
                    if not more:
                        break
                    raw += more
            finally:
                writer.close()
    except (TimeoutError, OSError) as exc:
        return HttpProbe(
            url=url,
            address=address,
            resolved_via=_via(via),
            latency_ms=_elapsed_ms(start),
            error=describe_error(exc),
        )
    status, location, matches, excerpt = _parse_http(raw, expect)
    if status is None:
        return HttpProbe(
            url=url,
            address=address,
            resolved_via=_via(via),
            latency_ms=_elapsed_ms(start),
            error="not an HTTP response",
            body_excerpt=excerpt,
        )
    return HttpProbe(
        url=url,
        address=address,
        resolved_via=_via(via),
        status=status,
        location=location,
        body_matches=matches,
        body_excerpt=excerpt,
        latency_ms=_elapsed_ms(start),
    )


Via = Literal["literal", "configured", "reference"]
_VIAS: dict[str | None, Via] = {"literal": "literal", "configured": "configured", "reference": "reference"}


def _via(value: str | None) -> Via | None:
    return _VIAS.get(value)


async def resolve_for_check(
    host: str, configured: list[str], references: list[str], timeout_s: float
) -> tuple[str | None, str | None]:
    """The check host's address: the user's own resolvers first; the reference only if they all fail, so
    a broken DNS does not hide whether the web itself works."""
    if is_ip(host):
        return host, "literal"
    fallback = asyncio.ensure_future(first_address(references, host, timeout_s))
    try:
        address = await first_address(configured, host, timeout_s) if configured else None
        if address is not None:
            return address, "configured"
        address = await fallback
        return (address, "reference") if address is not None else (None, None)
    finally:
        fallback.cancel()


# --- ICMP -------------------------------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"rme-agent") -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload


def _open_icmp_socket() -> tuple[socket.socket, bool] | None:
    """A raw socket (root) or a datagram "ping socket" (unprivileged where allowed); None if neither."""
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            return socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP), raw
        except OSError:
            continue
    return None


async def icmp_echo(host: str, timeout_s: float) -> float | None:
    """Round-trip time in ms of one echo to `host`, or None (no answer, or ICMP not permitted)."""
    opened = _open_icmp_socket()
    if opened is None:
        return None
    sock, raw = opened
    loop = asyncio.get_running_loop()
    ident, seq = os.getpid() & 0xFFFF, 1
    with sock:
        sock.setblocking(False)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await loop.sock_sendto(sock, echo_request(ident, seq), (host, 0))
                while True:
                    data, peer = await loop.sock_recvfrom(sock, 2048)
                    if peer[0] != host:
                        continue
                    offset = (data[0] & 0x0F) * 4 if raw else 0
                    kind, _, _, got_id, got_seq = struct.unpack("!BBHHH", data[offset : offset + 8])
                    # A ping socket rewrites the id to its port, so only raw sockets check it.
                    if kind == 0 and got_seq == seq and (not raw or got_id == ident):
                        return _elapsed_ms(start)
        except (TimeoutError, OSError):
            return None
