"""PPPoE and DHCP frames, built and parsed as bytes (the sockets are exercised in the fault lab)."""

from __future__ import annotations

import socket
import struct

from agent.diagnosis import l2probe

MAC, AC_MAC = "02:00:00:00:00:01", "02:00:00:00:00:aa"


def test_padi_is_a_broadcast_discovery_frame_with_our_host_uniq() -> None:
    frame = l2probe.padi_frame(MAC, b"12345678")
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex("020000000001")
    assert struct.unpack("!H", frame[12:14])[0] == 0x8863
    ver_type, code, session, length = struct.unpack("!BBHH", frame[14:20])
    assert (ver_type, code, session, length) == (0x11, 0x09, 0, len(frame) - 20)
    assert l2probe.parse_tags(frame[20:]) == {0x0101: b"", 0x0103: b"12345678"}


def pado(host_uniq: bytes, code: int = 0x07) -> bytes:
    tags = b"".join(
        struct.pack("!HH", kind, len(value)) + value
        for kind, value in ((0x0102, b"BRAS-7"), (0x0101, b"isp"), (0x0103, host_uniq), (0x0104, b"cookie"))
    )
    header = struct.pack("!BBHH", 0x11, code, 0, len(tags))
    return bytes.fromhex("020000000001") + bytes.fromhex("0200000000aa") + b"\x88\x63" + header + tags


def test_pado_answering_our_padi_names_the_concentrator() -> None:
    assert l2probe.parse_pado(pado(b"12345678"), b"12345678") == (AC_MAC, "BRAS-7", "isp")
    assert l2probe.parse_pado(pado(b"someone!"), b"12345678") is None  # another client's PADI
    assert l2probe.parse_pado(pado(b"12345678", code=0x65), b"12345678") is None  # a PADS, not a PADO


def test_discover_is_a_valid_broadcast_bootp_request() -> None:
    frame = l2probe.discover_frame(MAC, 0xCAFEBABE)
    ip = frame[14:34]
    assert l2probe._ip_checksum(ip) == 0  # a correct header sums to zero
    assert ip[16:20] == b"\xff" * 4 and struct.unpack("!HH", frame[34:38]) == (68, 67)
    bootp = frame[42:]
    assert bootp[0] == 1 and struct.unpack("!I", bootp[4:8])[0] == 0xCAFEBABE
    assert struct.unpack("!H", bootp[10:12])[0] == 0x8000  # broadcast: the client has no address yet
    assert bootp[28:34] == bytes.fromhex("020000000001")
    assert l2probe.parse_dhcp_options(bootp[240:])[53] == b"\x01"
    assert len(bootp) >= 300


def offer(xid: int, message: int = 2) -> bytes:
    options = bytes(
        [53, 1, message, 54, 4, 10, 0, 0, 1, 3, 4, 10, 0, 0, 1, 6, 8, 10, 0, 0, 1, 8, 8, 8, 8, 255]
    )
    bootp = struct.pack("!BBBBIHH", 2, 1, 6, 0, xid, 0, 0x8000)
    bootp += (
        b"\0" * 4 + socket.inet_aton("10.0.0.57") + b"\0" * 8 + bytes.fromhex("020000000001") + b"\0" * 10
    )
    bootp += b"\0" * 192 + l2probe.DHCP_MAGIC + options
    udp = struct.pack("!HHHH", 67, 68, 8 + len(bootp), 0) + bootp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("10.0.0.1"), b"\xff" * 4)  # fmt: skip
    return b"\xff" * 6 + bytes.fromhex("0200000000aa") + b"\x08\x00" + ip + udp


def test_offer_for_our_xid_names_server_address_router_and_dns() -> None:
    assert l2probe.parse_offer(offer(7), 7) == ("10.0.0.57", "10.0.0.1", "10.0.0.1", ("10.0.0.1", "8.8.8.8"))
    assert l2probe.parse_offer(offer(8), 7) is None
    assert l2probe.parse_offer(offer(7, message=5), 7) is None  # an ACK is not an offer
