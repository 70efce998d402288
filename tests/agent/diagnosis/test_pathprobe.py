"""ICMP parsing and MTU sizes of the path probes (the sockets are exercised in the fault lab)."""

from __future__ import annotations

import struct

from agent.diagnosis import pathprobe
from agent.diagnosis.netprobe import echo_request


def ip_header(payload_len: int) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0, 64, 1, 0, b"\x0a\0\0\x01", b"\x0a\0\0\x02"
    )


def test_sizes_start_at_the_adapter_mtu() -> None:
    assert pathprobe.mtu_sizes(1492)[:3] == [1492, 1480, 1472]
    assert pathprobe.mtu_sizes(None)[0] == 1500
    assert pathprobe.mtu_sizes(1300) == [1300, 1280]


def test_echo_reply_from_a_raw_socket() -> None:
    reply = struct.pack("!BBHHH", 0, 0, 0, 0x1234, 101) + b"data"
    assert pathprobe.parse_icmp(ip_header(len(reply)) + reply, raw=True) == (0, 0, 0x1234, 101, b"")
    assert pathprobe.parse_icmp(reply, raw=False) == (0, 0, 0x1234, 101, b"")


def test_frag_needed_quotes_our_echo_and_carries_the_mtu() -> None:
    quoted = ip_header(8) + echo_request(0x1234, 102)[:8]
    error = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + quoted
    kind, code, ident, seq, rest = pathprobe.parse_icmp(ip_header(len(error)) + error, raw=True) or (
        0,
        0,
        0,
        0,
        b"",
    )
    assert (kind, code, ident, seq) == (3, 4, 0x1234, 102)
    assert struct.unpack("!H", rest[2:4])[0] == 1400


def test_time_exceeded_quotes_our_echo() -> None:
    quoted = ip_header(8) + echo_request(0x4E41, 7)[:8]
    error = struct.pack("!BBHHH", 11, 0, 0, 0, 0) + quoted
    assert pathprobe.parse_icmp(ip_header(len(error)) + error, raw=True) == (11, 0, 0x4E41, 7, b"\0\0\0\0")
    assert pathprobe.parse_icmp(b"\x45" + b"\0" * 10, raw=True) is None
