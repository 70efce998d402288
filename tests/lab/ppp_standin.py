"""A user-space stand-in for an established PPPoE session, for the fault lab (this kernel has no PPP).

It creates `ppp0` in the client namespace — a TUN device whose link type is set to ARPHRD_PPP, so the
agent sees what a dialing PC has: an up point-to-point interface of type PPP with the address and
default route the lab gives it — and `pppsrv0` in the router namespace. IP packets between them travel
over the real veth as PPPoE session frames (RFC 2516 §4: ethertype 0x8864, version/type 0x11, code 0,
the session id, PPP protocol 0x0021), so the wire carries what a real session carries. LCP, PAP/CHAP
and IPCP are not spoken: the session starts established; those phases are tested on recorded pppd logs.

    python -m tests.lab.ppp_standin CLIENT_NS ROUTER_NS CLIENT_MAC ROUTER_MAC SESSION_ID

Prints "ready" once both devices exist; runs until killed.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import selectors
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
TUNSETIFF, TUNSETLINK = 0x400454CA, 0x400454CD
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
ARPHRD_PPP = 512
ETH_P_PPPOE_SESS = 0x8864
PPP_IP = 0x0021
PACKET_OUTGOING = 4

_libc = ctypes.CDLL(None, use_errno=True)


def enter(namespace: str) -> None:
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {namespace}")
    finally:
        os.close(fd)


def tun(name: str, link_type: int | None) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    if link_type is not None:
        fcntl.ioctl(fd, TUNSETLINK, link_type)
    return fd


def packet_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_PPPOE_SESS))
    sock.bind((interface, ETH_P_PPPOE_SESS))
    return sock


def mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def frame(dst: bytes, src: bytes, session: int, packet: bytes) -> bytes:
    header = struct.pack("!BBHHH", 0x11, 0x00, session, len(packet) + 2, PPP_IP)
    return dst + src + struct.pack("!H", ETH_P_PPPOE_SESS) + header + packet


def unwrap(data: bytes, session: int) -> bytes | None:
    if len(data) < 22:
        return None
    ver_type, code, got, length, proto = struct.unpack("!BBHHH", data[14:22])
    if ver_type != 0x11 or code != 0 or got != session or proto != PPP_IP:
        return None
    return data[22 : 14 + 6 + length]


def main(client_ns: str, router_ns: str, client_mac: str, router_mac: str, session_text: str) -> None:
    session = int(session_text)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    enter(client_ns)
    client_tun = tun("ppp0", ARPHRD_PPP)
    client_wire = packet_socket("eth0")
    enter(router_ns)
    router_tun = tun("pppsrv0", None)
    router_wire = packet_socket("lan0")
    _libc.setns(home, CLONE_NEWNET)
    os.close(home)
    to_router = (mac(router_mac), mac(client_mac))
    to_client = (mac(client_mac), mac(router_mac))
    selector = selectors.DefaultSelector()
    selector.register(client_tun, selectors.EVENT_READ, "client_tun")
    selector.register(router_tun, selectors.EVENT_READ, "router_tun")
    selector.register(client_wire, selectors.EVENT_READ, "client_wire")
    selector.register(router_wire, selectors.EVENT_READ, "router_wire")
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            try:
                if key.data == "client_tun":
                    client_wire.send(frame(*to_router, session, os.read(client_tun, 65535)))
                elif key.data == "router_tun":
                    router_wire.send(frame(*to_client, session, os.read(router_tun, 65535)))
                else:
                    wire = client_wire if key.data == "client_wire" else router_wire
                    data, address = wire.recvfrom(65535)
                    packet = unwrap(data, session) if address[2] != PACKET_OUTGOING else None
                    if packet is not None:
                        os.write(client_tun if key.data == "client_wire" else router_tun, packet)
            except OSError:
                continue  # a device going down while the lab resets: drop the packet, keep going


if __name__ == "__main__":
    main(*sys.argv[1:6])
