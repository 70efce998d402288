"""macOS probes, the basics: adapters and addresses from `ifconfig`, default routes from
`netstat -rn -f inet`, resolvers from `scutil --dns`. Parsers are pure and tested on recorded outputs
(tests/agent/diagnosis/fixtures/macos_*.txt); ICMP uses the unprivileged datagram socket macOS allows."""

from __future__ import annotations

import re
import subprocess

from agent.diagnosis.facts import Address, Interface, InterfaceKind, LocalFacts, ResolverConfig, Route

_HEADER = re.compile(r"^(?P<name>[a-zA-Z0-9]+): flags=\d+<(?P<flags>[^>]*)>")
_INET = re.compile(r"^\s+inet (?P<addr>\d+\.\d+\.\d+\.\d+) netmask 0x(?P<mask>[0-9a-f]{8})")
_VIRTUAL = re.compile(r"^(lo|gif|stf|awdl|llw|utun|bridge|ap|anpi|vmenet|XHC)")


def parse_ifconfig(text: str, wifi_names: frozenset[str] = frozenset({"en0"})) -> tuple[Interface, ...]:
    """`ifconfig` → adapters. `status: inactive` is no link; UP missing from flags is disabled."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if _HEADER.match(line):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    interfaces = []
    for block in blocks:
        header = _HEADER.match(block[0])
        assert header is not None
        name, flags = header["name"], header["flags"].split(",")
        addresses = []
        carrier: bool | None = None
        mac = None
        for line in block[1:]:
            inet = _INET.match(line)
            if inet:
                addresses.append(Address(address=inet["addr"], prefix=bin(int(inet["mask"], 16)).count("1")))
            stripped = line.strip()
            if stripped.startswith("status:"):
                carrier = stripped.split(":", 1)[1].strip() == "active"
            if stripped.startswith("ether "):
                mac = stripped.split()[1]
        kind: InterfaceKind = (
            "virtual" if _VIRTUAL.match(name) else "wifi" if name in wifi_names else "ethernet"
        )
        if name.startswith("ppp"):
            kind = "ppp"
        interfaces.append(
            Interface(
                name=name, kind=kind, admin_up="UP" in flags, carrier=carrier, mac=mac, ipv4=tuple(addresses)
            )
        )
    return tuple(interfaces)


def parse_netstat_routes(text: str) -> tuple[Route, ...]:
    routes: list[Route] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[0] == "default":
            gateway = cols[1] if re.match(r"^\d+\.\d+\.\d+\.\d+$", cols[1]) else None
            routes.append(Route(gateway=gateway, interface=cols[3], metric=len(routes)))
    return tuple(routes)


def parse_scutil_dns(text: str) -> tuple[str, ...]:
    """Nameservers of the default resolvers (`resolver #N` blocks without a `domain`), in order."""
    servers: list[str] = []
    for block in re.split(
        r"\n(?=resolver #\d+)", text.split("DNS configuration (for scoped queries)", maxsplit=1)[0]
    ):
        if re.search(r"^\s+domain\s+:", block, re.M):
            continue
        for match in re.finditer(r"nameserver\[\d+\]\s+:\s+(\S+)", block):
            if match[1] not in servers and "." in match[1]:
                servers.append(match[1])
    return tuple(servers)


def parse_facts(ifconfig: str, netstat: str, scutil: str) -> LocalFacts:
    return LocalFacts(
        platform="macos",
        interfaces=parse_ifconfig(ifconfig),
        default_routes=parse_netstat_routes(netstat),
        resolvers=ResolverConfig(servers=parse_scutil_dns(scutil), source="scutil --dns"),
    )


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False).stdout


def read_local_facts() -> LocalFacts:
    return parse_facts(
        _run("/sbin/ifconfig"),
        _run("/usr/sbin/netstat", "-rn", "-f", "inet"),
        _run("/usr/sbin/scutil", "--dns"),
    )
