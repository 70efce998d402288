"""Active probes against real sockets on loopback: a DNS server (the lab's, in-process), TCP listeners,
HTTP servers and ICMP echo."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.diagnosis import netprobe
from tests.lab.dns_server import Behaviour, Udp


@dataclass
class DnsServer:
    port: int
    modes: Path

    def set_mode(self, mode: str) -> None:
        self.modes.write_text(json.dumps({"127.0.0.1": mode}))


@pytest.fixture
async def dns_server(tmp_path: Path) -> AsyncIterator[DnsServer]:
    modes = tmp_path / "modes.json"
    behaviour = Behaviour(
        {
            "zone": {"known.test.": "192.0.2.7"},
            "modes_file": str(modes),
            "slow_ms": 300,
            "lies": {},
            "hijack_address": "192.0.2.99",
        }
    )
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Udp(behaviour, "127.0.0.1"), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    yield DnsServer(port, modes)
    transport.close()


async def test_dns_answer_nxdomain_and_hijack(dns_server: DnsServer) -> None:
    known = await netprobe.dns_query("127.0.0.1", "known.test", 1.0, port=dns_server.port)
    assert (known.rcode, known.addresses, known.error) == ("NOERROR", ("192.0.2.7",), None)
    assert known.resolved and known.latency_ms is not None and known.latency_ms < 500
    missing = await netprobe.dns_query("127.0.0.1", "nope.test", 1.0, port=dns_server.port)
    assert (missing.rcode, missing.addresses, missing.resolved) == ("NXDOMAIN", (), True)
    dns_server.set_mode("nxhijack")
    forged = await netprobe.dns_query("127.0.0.1", "nope.test", 1.0, port=dns_server.port)
    assert (forged.rcode, forged.addresses) == ("NOERROR", ("192.0.2.99",))


async def test_dns_timeout_is_bounded(dns_server: DnsServer) -> None:
    dns_server.set_mode("silent")
    start = time.perf_counter()
    answer = await netprobe.dns_query("127.0.0.1", "known.test", 0.3, port=dns_server.port)
    assert (answer.rcode, answer.error) == (None, "timeout")
    assert 0.25 < time.perf_counter() - start < 0.8


async def test_dns_to_a_closed_port_fails_fast() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    answer = await netprobe.dns_query("127.0.0.1", "known.test", 2.0, port=port)
    assert answer.error == "ECONNREFUSED"  # the ICMP port-unreachable, not a 2 s timeout
    assert time.perf_counter() - start < 1.0


async def test_resolver_probe_and_first_address(dns_server: DnsServer) -> None:
    dns_server.set_mode("slow")
    probe = await netprobe.probe_resolver("127.0.0.1", ["known.test"], "nope.test", 1.0)
    # Port 53 on loopback has no server here: every query fails, none raises.
    assert not probe.answering and probe.nonexistent is not None
    answer = await netprobe.dns_query("127.0.0.1", "known.test", 1.0, port=dns_server.port)
    assert answer.latency_ms is not None and answer.latency_ms >= 290


async def _serve_http(payload: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _literal() -> tuple[str | None, str | None]:
    return "127.0.0.1", "literal"


@pytest.mark.parametrize(
    ("payload", "status", "matches", "location"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\nMicrosoft Connect Test", 200, True, None),
        (b"HTTP/1.1 302 Found\r\nLocation: http://portal/login\r\n\r\n", 302, False, "http://portal/login"),
        (b"HTTP/1.0 200 OK\r\n\r\n<html>Please sign in</html>", 200, False, None),
    ],
)
async def test_http_check(payload: bytes, status: int, matches: bool, location: str | None) -> None:
    server, port = await _serve_http(payload)
    async with server:
        probe = await netprobe.http_check(
            f"http://127.0.0.1:{port}/connecttest.txt", "Microsoft Connect Test", _literal(), 2.0
        )
    assert (probe.status, probe.body_matches, probe.location, probe.error) == (
        status,
        matches,
        location,
        None,
    )
    assert probe.resolved_via == "literal"


async def test_http_check_refused_and_garbage() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = await netprobe.http_check(f"http://127.0.0.1:{port}/", "x", _literal(), 1.0)
    assert (refused.status, refused.error) == (None, "ECONNREFUSED")
    server, port = await _serve_http(b"SSH-2.0-OpenSSH\r\n\r\n")
    async with server:
        garbage = await netprobe.http_check(f"http://127.0.0.1:{port}/", "x", _literal(), 1.0)
    assert (garbage.status, garbage.error) == (None, "not an HTTP response")


async def test_http_check_times_out_on_a_silent_server() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        start = time.perf_counter()
        probe = await netprobe.http_check(f"http://127.0.0.1:{port}/", "x", _literal(), 0.3)
        assert probe.error == "timeout" and time.perf_counter() - start < 1.0
        server.close()


async def test_http_check_without_an_address() -> None:
    async def nothing() -> tuple[str | None, str | None]:
        return None, None

    probe = await netprobe.http_check("http://check.invalid/", "x", nothing(), 1.0)
    assert probe.error == "cannot resolve check.invalid"


async def test_resolve_for_check_prefers_the_users_resolvers() -> None:
    assert await netprobe.resolve_for_check("10.1.2.3", [], [], 1.0) == ("10.1.2.3", "literal")
    # Nothing answers on loopback port 53: neither configured nor reference yields an address.
    assert await netprobe.resolve_for_check("known.test", ["127.0.0.1"], ["127.0.0.2"], 0.3) == (None, None)


async def test_tcp_probes() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ok = await netprobe.tcp_probe("127.0.0.1", port, 1.0)
    assert (ok.target, ok.ok, ok.error) == (f"127.0.0.1:{port}", True, None)
    refused = await netprobe.tcp_probe("127.0.0.1", port, 1.0)
    assert (refused.ok, refused.error) == (False, "ECONNREFUSED")
    # A refusal still proves the host is there.
    assert await netprobe.host_answers_tcp("127.0.0.1", port, 1.0)
    assert (await netprobe.tcp_probe("::1", port, 1.0)).target == f"[::1]:{port}"


def test_echo_request_checksum_is_valid() -> None:
    packet = netprobe.echo_request(0x1234, 7)
    assert packet[0] == 8 and struct.unpack("!HH", packet[4:8]) == (0x1234, 7)
    padded = packet + b"\0" * (len(packet) % 2)
    words = struct.unpack(f"!{len(padded) // 2}H", padded)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP needs root or ping_group_range")
async def test_icmp_echo_to_loopback() -> None:
    rtt = await netprobe.icmp_echo("127.0.0.1", 1.0)
    assert rtt is not None and rtt < 100


def test_describe_error() -> None:
    assert netprobe.describe_error(TimeoutError()) == "timeout"
    assert netprobe.describe_error(ConnectionRefusedError(111, "refused")) == "ECONNREFUSED"
    assert netprobe.describe_error(ValueError()) == "ValueError"
