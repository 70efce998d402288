"""ARP frames, and asking on an interface that cannot be used."""

from __future__ import annotations

import socket
import struct

from agent.diagnosis import arp


def test_request_frame_layout() -> None:
    frame = arp.arp_frame("02:00:00:00:00:01", "10.0.0.2", "10.0.0.1")
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex("020000000001")
    assert struct.unpack("!H", frame[12:14])[0] == arp.ETH_P_ARP
    assert struct.unpack("!H", frame[20:22])[0] == arp.ARP_REQUEST
    assert socket.inet_ntoa(frame[28:32]) == "10.0.0.2" and socket.inet_ntoa(frame[38:42]) == "10.0.0.1"


def test_reply_parsing() -> None:
    request = arp.arp_frame("02:00:00:00:00:09", "10.0.0.1", "10.0.0.2")
    reply = request[:20] + struct.pack("!H", arp.ARP_REPLY) + request[22:]
    assert arp.parse_arp_reply(reply) == ("10.0.0.1", "02:00:00:00:00:09")
    assert arp.parse_arp_reply(request) is None  # a request is not an answer
    assert arp.parse_arp_reply(b"\0" * 20) is None


async def test_ask_on_a_missing_interface_is_no_answer() -> None:
    assert (
        await arp.arp_ask("rme-missing0", "02:00:00:00:00:01", "10.0.0.2", "10.0.0.1", timeout_s=0.2) is None
    )
