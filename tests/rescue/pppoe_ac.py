"""A PPPoE access concentrator in user space for the rescue guest's dial-up, on the test machine's
loopback only: the guest's second network card is QEMU's `-netdev dgram`, whose Ethernet frames arrive
here as UDP datagrams (one frame each). It speaks what the broadband operator's side speaks to the
guest's own `pppd` (rp-pppoe plugin): discovery (PADI → PADO, PADR → PADS; RFC 2516), then PPP in the
session — LCP (RFC 1661; it asks for PAP), PAP (RFC 1334; the account and password must match), IPCP
(RFC 1332; the client's address and DNS servers are assigned with a Configure-Nak). Anything else
(IPv6CP, CCP) gets an LCP Protocol-Reject; IP packets are dropped (the guest's server traffic goes
through its other card). Records what happened, for the test to check.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

ETH_DISCOVERY, ETH_SESSION = 0x8863, 0x8864
PADI, PADO, PADR, PADS, PADT = 0x09, 0x07, 0x19, 0x65, 0xA7
TAG_SERVICE, TAG_AC_NAME, TAG_HOST_UNIQ, TAG_COOKIE = 0x0101, 0x0102, 0x0103, 0x0104
LCP, PAP, IPCP = 0xC021, 0xC023, 0x8021
CONF_REQ, CONF_ACK, CONF_NAK, CONF_REJ, TERM_REQ, TERM_ACK = 1, 2, 3, 4, 5, 6
PROTO_REJ, ECHO_REQ, ECHO_REPLY = 8, 9, 10
OUR_MAC = bytes.fromhex("525400ac0001")
MAGIC = 0x5EED1234


@dataclass
class Dialled:
    """What the concentrator saw; `events` in order, for a failure message."""

    discovered: bool = False
    session: int = 0
    auth: tuple[str, str] | None = None  # the account and password PAP carried
    accepted: bool = False
    ipcp_up: bool = False
    events: list[str] = field(default_factory=list)


class AccessConcentrator:
    def __init__(self, account: str, password: str, client_ip: str = "10.64.0.2") -> None:
        self.account, self.password = account, password
        self.our_ip, self.client_ip = socket.inet_aton("10.64.0.1"), socket.inet_aton(client_ip)
        self.dns = socket.inet_aton("10.64.0.53")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]  # QEMU's `remote.port`
        self.qemu: tuple[str, int] | None = None  # QEMU's own end (`local.port`), learnt from its frames
        self.peer_mac = b""
        self.seen = Dialled()
        self.lcp_acked_ours = self.lcp_acked_theirs = False
        self.ipcp_acked_ours = self.ipcp_acked_theirs = False
        self.ident = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pppoe-ac", daemon=True)

    def __enter__(self) -> AccessConcentrator:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def wait(self, check: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if getattr(self.seen, check):
                return True
            time.sleep(0.2)
        return False

    # -- the wire --------------------------------------------------------------------------------

    def _serve(self) -> None:
        last_request = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                frame, source = self.sock.recvfrom(65536)
                self.qemu = source
                self._frame(frame)
            # Our Configure-Requests are repeated until acknowledged (a lost frame, a slow guest).
            if self.seen.session and time.monotonic() - last_request > 1.0:
                last_request = time.monotonic()
                if not self.lcp_acked_ours:
                    self._lcp_request()
                elif self.seen.accepted and not self.ipcp_acked_ours:
                    self._ipcp_request()

    def _send(self, ethertype: int, payload: bytes) -> None:
        if self.qemu is not None:
            self.sock.sendto(self.peer_mac + OUR_MAC + struct.pack("!H", ethertype) + payload, self.qemu)

    def _frame(self, frame: bytes) -> None:
        if len(frame) < 20:
            return
        src, ethertype = frame[6:12], struct.unpack("!H", frame[12:14])[0]
        ver_type, code, session, length = struct.unpack("!BBHH", frame[14:20])
        body = frame[20 : 20 + length]
        if ver_type != 0x11:
            return
        if ethertype == ETH_DISCOVERY:
            self.peer_mac = src
            self._discovery(code, session, body)
        elif ethertype == ETH_SESSION and session == self.seen.session and session:
            proto = struct.unpack("!H", body[:2])[0]
            self._ppp(proto, body[2:])

    # -- discovery -------------------------------------------------------------------------------

    @staticmethod
    def _tags(body: bytes) -> dict[int, bytes]:
        tags, at = {}, 0
        while at + 4 <= len(body):
            kind, size = struct.unpack("!HH", body[at : at + 4])
            tags[kind] = body[at + 4 : at + 4 + size]
            at += 4 + size
        return tags

    def _discovery(self, code: int, _session: int, body: bytes) -> None:
        tags = self._tags(body)
        echo = b"".join(
            struct.pack("!HH", kind, len(tags[kind])) + tags[kind]
            for kind in (TAG_SERVICE, TAG_HOST_UNIQ)
            if kind in tags
        )
        if code == PADI:
            self.seen.events.append("PADI")
            name = b"rme-test-ac"
            offer = echo + struct.pack("!HH", TAG_AC_NAME, len(name)) + name
            offer += struct.pack("!HH", TAG_COOKIE, 4) + b"ck01"
            self._send(ETH_DISCOVERY, struct.pack("!BBHH", 0x11, PADO, 0, len(offer)) + offer)
        elif code == PADR:
            self.seen.events.append("PADR")
            self.seen.session = self.seen.session or (int.from_bytes(os.urandom(2), "big") | 1)
            self.seen.discovered = True
            self._send(ETH_DISCOVERY, struct.pack("!BBHH", 0x11, PADS, self.seen.session, len(echo)) + echo)
        elif code == PADT:
            self.seen.events.append("PADT")

    # -- PPP -------------------------------------------------------------------------------------

    def _ppp_send(self, proto: int, code: int, ident: int, data: bytes) -> None:
        packet = struct.pack("!HBBH", proto, code, ident, 4 + len(data)) + data
        self._send(ETH_SESSION, struct.pack("!BBHH", 0x11, 0, self.seen.session, len(packet)) + packet)

    def _next_ident(self) -> int:
        self.ident = (self.ident + 1) % 256
        return self.ident

    def _lcp_request(self) -> None:
        options = struct.pack("!BBH", 3, 4, PAP) + struct.pack("!BBI", 5, 6, MAGIC)
        self._ppp_send(LCP, CONF_REQ, self._next_ident(), options)

    def _ipcp_request(self) -> None:
        self._ppp_send(IPCP, CONF_REQ, self._next_ident(), struct.pack("!BB", 3, 6) + self.our_ip)

    @staticmethod
    def _options(data: bytes) -> list[tuple[int, bytes]]:
        found, at = [], 0
        while at + 2 <= len(data):
            kind, size = data[at], data[at + 1]
            if size < 2:
                break
            found.append((kind, data[at + 2 : at + size]))
            at += size
        return found

    def _ppp(self, proto: int, packet: bytes) -> None:
        if len(packet) < 4:
            return
        code, ident, length = struct.unpack("!BBH", packet[:4])
        data = packet[4:length]
        if proto == LCP:
            self._lcp(code, ident, data)
        elif proto == PAP and code == 1:  # Authenticate-Request
            peer = data[1 : 1 + data[0]]
            rest = data[1 + data[0] :]
            secret = rest[1 : 1 + rest[0]]
            self.seen.auth = (peer.decode(errors="replace"), secret.decode(errors="replace"))
            self.seen.accepted = self.seen.auth == (self.account, self.password)
            self.seen.events.append(f"PAP {'ack' if self.seen.accepted else 'nak'}")
            message = b"welcome" if self.seen.accepted else b"wrong account or password"
            self._ppp_send(PAP, 2 if self.seen.accepted else 3, ident, bytes([len(message)]) + message)
            if self.seen.accepted:
                self._ipcp_request()
        elif proto == IPCP:
            self._ipcp(code, ident, data)
        elif proto != 0x0021:  # not IP: reject the protocol (IPv6CP, CCP, …)
            self._ppp_send(LCP, PROTO_REJ, self._next_ident(), struct.pack("!H", proto) + packet)

    def _lcp(self, code: int, ident: int, data: bytes) -> None:
        if code == CONF_REQ:
            self.seen.events.append("LCP request")
            self._ppp_send(LCP, CONF_ACK, ident, data)  # whatever the client asks (MRU, magic) is fine
            self.lcp_acked_theirs = True
            if not self.lcp_acked_ours:
                self._lcp_request()
        elif code == CONF_ACK:
            self.seen.events.append("LCP acked")
            self.lcp_acked_ours = True
        elif code in (CONF_NAK, CONF_REJ):
            self.seen.events.append(f"LCP {'nak' if code == CONF_NAK else 'reject'} {data.hex()}")
        elif code == ECHO_REQ:
            self._ppp_send(LCP, ECHO_REPLY, ident, struct.pack("!I", MAGIC) + data[4:])
        elif code == TERM_REQ:
            self.seen.events.append("LCP terminate")
            self._ppp_send(LCP, TERM_ACK, ident, b"")

    def _ipcp(self, code: int, ident: int, data: bytes) -> None:
        if code == CONF_REQ:
            wanted = {3: self.client_ip, 129: self.dns, 131: self.dns}
            options = self._options(data)
            unknown = [(k, v) for k, v in options if k not in wanted]
            if unknown:
                rejected = b"".join(bytes([k, len(v) + 2]) + v for k, v in unknown)
                self._ppp_send(IPCP, CONF_REJ, ident, rejected)
                return
            wrong = [(k, wanted[k]) for k, v in options if v != wanted[k]]
            if wrong:
                self._ppp_send(IPCP, CONF_NAK, ident, b"".join(bytes([k, 6]) + v for k, v in wrong))
                return
            self._ppp_send(IPCP, CONF_ACK, ident, data)
            self.seen.events.append("IPCP acked theirs")
            self.ipcp_acked_theirs = True
            self.seen.ipcp_up = self.ipcp_acked_ours
        elif code == CONF_ACK:
            self.ipcp_acked_ours = True
            self.seen.events.append("IPCP acked ours")
            self.seen.ipcp_up = self.ipcp_acked_theirs
