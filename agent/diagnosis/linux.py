"""Linux probes: local facts from sysfs, /proc and resolv.conf, read without sending a packet.

- adapters: `/sys/class/net/*` (flags for admin state, `carrier`, `type`, `wireless/`, `device`);
- IPv4 addresses: psutil (getifaddrs);
- default routes: `/proc/net/route` (the kernel's FIB for the process's network namespace);
- resolvers: `/etc/resolv.conf`; a systemd-resolved stub (127.0.0.53) is replaced by the upstreams it
  forwards to, from `/run/systemd/resolve/resolv.conf`;
- the neighbour (ARP) table: `/proc/net/arp`, used by the gateway probe as a fallback to ICMP.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from pathlib import Path

import psutil

from agent.diagnosis import linux_services
from agent.diagnosis.facts import Address, Interface, InterfaceKind, LocalFacts, ResolverConfig, Route

SYS_NET = Path("/sys/class/net")
PROC_ROUTE = Path("/proc/net/route")
PROC_ARP = Path("/proc/net/arp")
PROC_IPV6_ROUTE = Path("/proc/net/ipv6_route")
RTF_REJECT = 0x0200
RESOLV_CONF = Path("/etc/resolv.conf")
RESOLVED_UPSTREAMS = Path("/run/systemd/resolve/resolv.conf")
RESOLVED_STUBS = frozenset({"127.0.0.53", "127.0.0.54"})

IFF_UP = 0x1
ARPHRD_ETHER, ARPHRD_PPP, ARPHRD_LOOPBACK = 1, 512, 772
ATF_COMPLETE = 0x2
# Interfaces that are never "the network adapter" a user means: bridges, containers, tunnels, VMs.
_VIRTUAL_NAMES = re.compile(r"^(lo|docker|br-|virbr|veth|vnet|tun|tap|wg|dummy|vmnet|vboxnet|zt|tailscale)")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # e.g. `carrier` raises EINVAL while the interface is administratively down
        return None


def _kind(name: str, base: Path) -> InterfaceKind:
    hw_type = _read(base / "type")
    if hw_type == str(ARPHRD_LOOPBACK):
        return "virtual"
    if hw_type == str(ARPHRD_PPP) or name.startswith("ppp"):
        return "ppp"
    if (base / "wireless").exists() or (base / "phy80211").exists():
        return "wifi"
    if not (base / "device").exists() and (_VIRTUAL_NAMES.match(name) or (base / "bridge").exists()):
        return "virtual"
    return "ethernet" if hw_type == str(ARPHRD_ETHER) else "other"


_NOT_GLOBAL6 = tuple(
    ipaddress.IPv6Network(n) for n in ("fe80::/10", "fc00::/7", "::1/128", "ff00::/8", "::/128")
)


def is_global6(address: str) -> bool:
    """An IPv6 address that can reach the internet: not link-local, unique-local, loopback or multicast
    (documentation prefixes count as global, so the lab can use 2001:db8::/32)."""
    try:
        ip = ipaddress.IPv6Address(address.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    return not any(ip in net for net in _NOT_GLOBAL6)


def _addresses() -> tuple[dict[str, tuple[Address, ...]], dict[str, tuple[str, ...]]]:
    found: dict[str, tuple[Address, ...]] = {}
    found6: dict[str, tuple[str, ...]] = {}
    for name, entries in psutil.net_if_addrs().items():
        ipv4 = []
        ipv6 = []
        for entry in entries:
            if entry.family == socket.AF_INET and entry.netmask:
                prefix = ipaddress.IPv4Network(f"0.0.0.0/{entry.netmask}").prefixlen
                ipv4.append(Address(address=entry.address, prefix=prefix))
            elif entry.family == socket.AF_INET6 and is_global6(entry.address):
                ipv6.append(entry.address.split("%")[0])
        found[name] = tuple(ipv4)
        found6[name] = tuple(ipv6)
    return found, found6


def read_interfaces(sys_net: Path = SYS_NET) -> tuple[Interface, ...]:
    addresses, addresses6 = _addresses()
    interfaces = []
    for base in sorted(sys_net.iterdir()):
        name = base.name
        flags = int(_read(base / "flags") or "0", 16)
        admin_up = bool(flags & IFF_UP)
        carrier_text = _read(base / "carrier") if admin_up else None
        carrier = None if carrier_text is None else carrier_text == "1"
        if not admin_up:
            carrier = None
        interfaces.append(
            Interface(
                name=name,
                kind=_kind(name, base),
                admin_up=admin_up,
                carrier=carrier,
                mac=_read(base / "address") or None,
                ipv4=addresses.get(name, ()),
                ipv6=addresses6.get(name, ()),
                mtu=int(_read(base / "mtu") or 0) or None,
            )
        )
    return tuple(interfaces)


def _hex_ip(value: str) -> str:
    return socket.inet_ntoa(struct.pack("<I", int(value, 16)))


def parse_proc_route(text: str) -> tuple[Route, ...]:
    """Default routes from `/proc/net/route` (little-endian hex columns)."""
    routes = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8 or cols[1] != "00000000" or cols[7] != "00000000":
            continue
        gateway = None if cols[2] == "00000000" else _hex_ip(cols[2])
        routes.append(Route(gateway=gateway, interface=cols[0], metric=int(cols[6])))
    return tuple(routes)


def parse_ipv6_route(text: str) -> tuple[str, ...]:
    """Interfaces with an IPv6 default route (`::/0`, not a reject route) from `/proc/net/ipv6_route`."""
    found: list[str] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 10 or cols[0] != "0" * 32 or cols[1] != "00" or cols[9] == "lo":
            continue
        if int(cols[8], 16) & RTF_REJECT:
            continue
        if cols[9] not in found:
            found.append(cols[9])
    return tuple(found)


def parse_resolv_conf(text: str) -> tuple[str, ...]:
    servers = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            servers.append(parts[1].split("%")[0])
    return tuple(servers)


def read_resolvers(resolv_conf: Path = RESOLV_CONF, upstreams: Path = RESOLVED_UPSTREAMS) -> ResolverConfig:
    servers = parse_resolv_conf(_read(resolv_conf) or "")
    stubs = [s for s in servers if s in RESOLVED_STUBS]
    if stubs and len(stubs) == len(servers):
        real = parse_resolv_conf(_read(upstreams) or "")
        return ResolverConfig(servers=real, source=f"systemd-resolved ({upstreams})", stub=stubs[0])
    return ResolverConfig(servers=servers, source=str(resolv_conf))


def read_local_facts() -> LocalFacts:
    errors = []
    try:
        interfaces = read_interfaces()
    except OSError as exc:
        interfaces, errors = (), [f"interfaces: {exc}"]
    routes = parse_proc_route(_read(PROC_ROUTE) or "")
    return LocalFacts(
        platform="linux",
        interfaces=interfaces,
        default_routes=routes,
        resolvers=read_resolvers(),
        ipv6_default_route=parse_ipv6_route(_read(PROC_IPV6_ROUTE) or ""),
        dialers=linux_services.read_dialers(interfaces),
        wifi=linux_services.read_wifi(interfaces),
        proxies=linux_services.read_proxies(),
        errors=tuple(errors),
    )


def neighbour_complete(ip: str) -> bool:
    """True once the kernel has a complete ARP entry for `ip`: the host answered ARP."""
    for line in (_read(PROC_ARP) or "").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[0] == ip:
            return bool(int(cols[2], 16) & ATF_COMPLETE)
    return False
