"""Facts: what the probes saw, before anyone judges it.

Every model here is plain data (pydantic, JSON round-trippable), so a fact set recorded on any OS can be
saved as a fixture and replayed through `agent.diagnosis.rules` on any other OS.

Two kinds of facts:
- `LocalFacts`: the machine's own configuration (adapters, addresses, routes, resolvers), read from the
  OS by `agent.diagnosis.linux` / `windows` / `macos` without sending a packet.
- active probe results (`GatewayProbe`, `ResolverProbe`, `TcpProbe`, `HttpProbe`), gathered in parallel
  with hard timeouts by `agent.diagnosis.runner`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Platform = Literal["linux", "windows", "macos"]
InterfaceKind = Literal["ethernet", "wifi", "ppp", "virtual", "other"]
ProbeMethod = Literal["icmp", "tcp", "arp"]

APIPA_NETWORK = ipaddress.IPv4Network("169.254.0.0/16")


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(_Fact):
    """One IPv4 address on an adapter. `duplicate` is the OS's own conflict flag (Windows, DAD)."""

    address: str
    prefix: int = Field(ge=0, le=32)
    duplicate: bool = False
    dhcp: bool | None = None

    @property
    def is_apipa(self) -> bool:
        return ipaddress.IPv4Address(self.address) in APIPA_NETWORK


class Interface(_Fact):
    """A network adapter as the OS reports it. `carrier` None means the OS did not say."""

    name: str
    description: str | None = None
    kind: InterfaceKind = "ethernet"
    admin_up: bool
    carrier: bool | None
    driver_ok: bool = True
    driver_error: str | None = None
    mac: str | None = None
    ipv4: tuple[Address, ...] = ()
    wifi_ssid: str | None = None
    ipv6: tuple[str, ...] = ()  # global-scope IPv6 addresses only (link-local ones prove nothing)
    mtu: int | None = None


class Route(_Fact):
    """An IPv4 default route (only default routes matter to the rules)."""

    gateway: str | None
    interface: str
    metric: int = 0


class ResolverConfig(_Fact):
    """The resolvers the system really uses. `stub` is set when a local stub (systemd-resolved's
    127.0.0.53) was replaced by its upstreams, kept for the evidence."""

    servers: tuple[str, ...] = ()
    source: str = ""
    stub: str | None = None


DialerEventKind = Literal[
    "no_answer",  # no access concentrator answered discovery (pppd: no PADO; RAS 651/678/815)
    "auth_failed",  # account or password refused (pppd: PAP/CHAP failed; RAS 691)
    "auth_timeout",  # the login server never answered (pppd: no auth reply; RAS 718)
    "suspended",  # refused, and the server said why: arrears, suspended, expired
    "no_address",  # LCP up but IPCP gave no address (pppd: IPCP timeout; RAS 720/718)
    "dropped",  # an established session ended (LCP echo timeout, PADT, modem hangup)
    "connected",  # a session came up (pppd: "local  IP address")
    "adapter",  # the adapter under the dialer is off or missing (RAS 769/633)
    "other",
]


class DialerEvent(_Fact):
    """One line of a dialer's history: a pppd log line or a Windows RAS error, already classified."""

    kind: DialerEventKind
    detail: str = ""
    code: int | None = None  # Windows RAS error number
    at: str | None = None  # the timestamp as the source wrote it
    message: str | None = None  # what the access concentrator said (PAP/CHAP failure text)


class Dialer(_Fact):
    """A configured PPPoE dial-up: pppd peers file, NetworkManager connection or a Windows RAS entry."""

    name: str
    source: str
    device: str | None = None  # the Ethernet adapter it dials over
    interface: str | None = None  # the PPP interface while connected
    connected: bool = False
    events: tuple[DialerEvent, ...] = ()  # recent history, oldest first


class WifiLink(_Fact):
    """What the Wi-Fi stack says about one wireless adapter (`iw`, NetworkManager, `netsh wlan`)."""

    interface: str
    associated: bool
    ssid: str | None = None
    signal_dbm: int | None = None
    signal_percent: int | None = None  # Windows gives a percentage, not dBm
    channel: int | None = None
    failure: Literal["auth", "other"] | None = None  # why the last association failed, if known
    failure_detail: str | None = None
    same_channel_networks: int | None = None  # other networks heard on our channel
    channel_busy_percent: int | None = None  # `iw survey dump`: busy time / active time

    @property
    def signal_quality(self) -> int | None:
        """0–100, Windows' scale; dBm mapped the way Windows does (−100 dBm → 0, −50 dBm → 100)."""
        if self.signal_percent is not None:
            return self.signal_percent
        if self.signal_dbm is None:
            return None
        return max(0, min(100, 2 * (self.signal_dbm + 100)))


class ProxyConfig(_Fact):
    """A system or environment proxy that web traffic is sent through."""

    url: str  # http://host:port
    source: str  # "env http_proxy", "gsettings", "kioslaverc", "WinINET", "WinHTTP"
    host: str
    port: int


class LocalFacts(_Fact):
    platform: Platform
    interfaces: tuple[Interface, ...] = ()
    default_routes: tuple[Route, ...] = ()
    resolvers: ResolverConfig = ResolverConfig()
    ipv6_default_route: tuple[str, ...] = ()  # interfaces with an IPv6 default route
    dialers: tuple[Dialer, ...] = ()
    wifi: tuple[WifiLink, ...] = ()
    proxies: tuple[ProxyConfig, ...] = ()
    errors: tuple[str, ...] = ()  # what the probe could not read (kept as evidence, never fatal)


class GatewayProbe(_Fact):
    """Did the default gateway answer anything? ICMP, a TCP SYN (an RST counts) or ARP."""

    gateway: str
    answered: bool
    method: ProbeMethod | None = None
    icmp_answered: bool | None = None  # None: not tried or not known before another method won
    rtt_ms: float | None = None


class DnsAnswer(_Fact):
    """One query to one server. `rcode` None means no response at all (see `error`)."""

    name: str
    rcode: str | None = None
    addresses: tuple[str, ...] = ()
    latency_ms: float | None = None
    error: str | None = None

    @property
    def responded(self) -> bool:
        return self.rcode is not None

    @property
    def resolved(self) -> bool:
        """A useful answer: addresses for a name, or a clean NXDOMAIN."""
        return self.rcode == "NXDOMAIN" or (self.rcode == "NOERROR" and bool(self.addresses))


class ResolverProbe(_Fact):
    """Known names plus one random name that must not exist, asked of one server."""

    server: str
    known: tuple[DnsAnswer, ...] = ()
    nonexistent: DnsAnswer | None = None

    @property
    def answering(self) -> bool:
        return any(a.resolved for a in self.known) or (
            self.nonexistent is not None and self.nonexistent.resolved
        )


class TcpProbe(_Fact):
    """A TCP connection to HOST:PORT by IP: the internet tested without DNS."""

    target: str
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class HttpProbe(_Fact):
    """The connectivity check: GET `url`, compare the body with the expected text."""

    url: str
    address: str | None = None
    resolved_via: Literal["literal", "configured", "reference"] | None = None
    status: int | None = None
    location: str | None = None
    body_matches: bool = False
    body_excerpt: str = ""
    latency_ms: float | None = None
    error: str | None = None


class PppoeDiscovery(_Fact):
    """PADI broadcast on the dialer's adapter: did an access concentrator answer with a PADO?"""

    interface: str
    answered: bool
    concentrator: str | None = None  # AC-Name tag
    concentrator_mac: str | None = None
    service: str | None = None
    latency_ms: float | None = None
    error: str | None = None  # e.g. the socket could not be opened (no CAP_NET_RAW)


class DhcpProbe(_Fact):
    """A DHCPDISCOVER broadcast on an adapter with no address: did any server offer one?"""

    interface: str
    answered: bool
    server: str | None = None
    offered: str | None = None
    router: str | None = None
    dns: tuple[str, ...] = ()
    latency_ms: float | None = None
    error: str | None = None


class MtuProbe(_Fact):
    """Echoes with "don't fragment" of several sizes to a host beyond the gateway, all at once."""

    target: str
    interface_mtu: int | None = None
    small_ok: bool = False
    sizes: dict[str, bool] = {}  # IP packet size → answered (keys are strings: JSON objects)
    frag_needed_mtu: int | None = None  # an ICMP "fragmentation needed" came back with this MTU
    error: str | None = None

    def answered(self, size: int) -> bool | None:
        return self.sizes.get(str(size))

    @property
    def largest_ok(self) -> int | None:
        ok = [int(k) for k, v in self.sizes.items() if v]
        return max(ok) if ok else None

    @property
    def largest_tried(self) -> int | None:
        return max((int(k) for k in self.sizes), default=None)


class ProxyProbe(_Fact):
    """The check URL fetched through a configured proxy."""

    proxy: str
    source: str
    connected: bool
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None


class Facts(_Fact):
    """Everything one diagnosis saw. `interface` is the adapter the rules judge (chosen by the runner)."""

    local: LocalFacts
    interface: str | None = None
    gateway: GatewayProbe | None = None
    resolvers: tuple[ResolverProbe, ...] = ()
    references: tuple[ResolverProbe, ...] = ()
    tcp: tuple[TcpProbe, ...] = ()
    http: HttpProbe | None = None
    http_reference: HttpProbe | None = None  # the check via the reference's address, when it differs
    pppoe: PppoeDiscovery | None = None
    dhcp: DhcpProbe | None = None
    mtu: MtuProbe | None = None
    ipv6: tuple[TcpProbe, ...] = ()  # TCP to IPv6 targets, only when IPv6 is configured
    proxies: tuple[ProxyProbe, ...] = ()
    second_hop: str | None = None  # the router after ours (a TTL-2 echo's "time exceeded" source)
    active_probes: bool = True  # False when local facts already named a root cause below the gateway
    dns_slow_ms: float = 400.0
    gateway_slow_ms: float = 200.0
