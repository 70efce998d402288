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


class LocalFacts(_Fact):
    platform: Platform
    interfaces: tuple[Interface, ...] = ()
    default_routes: tuple[Route, ...] = ()
    resolvers: ResolverConfig = ResolverConfig()
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


class Facts(_Fact):
    """Everything one diagnosis saw. `interface` is the adapter the rules judge (chosen by the runner)."""

    local: LocalFacts
    interface: str | None = None
    gateway: GatewayProbe | None = None
    resolvers: tuple[ResolverProbe, ...] = ()
    references: tuple[ResolverProbe, ...] = ()
    tcp: tuple[TcpProbe, ...] = ()
    http: HttpProbe | None = None
    active_probes: bool = True  # False when local facts already named a root cause below the gateway
    dns_slow_ms: float = 400.0
    gateway_slow_ms: float = 200.0
