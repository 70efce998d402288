"""Windows local facts beyond adapters and routes, from the same PowerShell document (`windows.py`):
PPPoE dialers (phonebook, `rasdial`, RasClient events), Wi-Fi (`netsh wlan`, WLAN-AutoConfig events),
the proxy (WinINET registry values, `netsh winhttp show proxy`) and IPv6. Pure; tested on recorded
documents (hand-written in the shape of the real output: no Windows machine was available).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agent.diagnosis import dialup, wifi
from agent.diagnosis.facts import Address, Dialer, DialerEvent, Interface, ProxyConfig, WifiLink
from agent.diagnosis.linux import is_global6
from agent.diagnosis.linux_services import parse_proxy_url

_NO_CONNECTIONS = ("No connections", "没有连接")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_rasdial(text: str) -> list[str]:
    """`rasdial` with no arguments: the names of the connected entries (English or Chinese output)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or lines[0] in _NO_CONNECTIONS:
        return []
    return lines[1:-1]


def ras_events(document: dict[str, Any]) -> tuple[DialerEvent, ...]:
    events = []
    for entry in sorted(_list(document.get("rasevents")), key=lambda e: str(e.get("Time") or "")):
        event = dialup.parse_rasclient_event(
            int(entry.get("Id") or 0), str(entry.get("Message") or ""), entry.get("Time")
        )
        if event is not None:
            events.append(event)
    return tuple(events)


def parse_dialers(
    document: dict[str, Any],
    interfaces: Sequence[Interface],
    addresses: dict[str, list[Address]],
    ipv6: dict[str, tuple[str, ...]],
) -> tuple[list[Dialer], list[Interface]]:
    """PPPoE phonebook entries → dialers; a connected one also becomes an interface of kind `ppp` (RAS
    connections are not network adapters, so `Get-NetAdapter` does not list them)."""
    entries = dialup.parse_rasphone(str(document.get("rasphone") or ""))
    connected = set(parse_rasdial(str(document.get("rasdial") or "")))
    events = ras_events(document)
    # The PPPoE miniport dials over whichever Ethernet adapter has a link.
    ethernet = next((i for i in interfaces if i.kind == "ethernet" and i.admin_up and i.carrier), None)
    dialers, ppp = [], []
    for name, _device in entries:
        up = name in connected
        dialers.append(
            Dialer(
                name=name,
                source="rasphone.pbk",
                device=ethernet.name if ethernet else None,
                interface=name if up else None,
                connected=up,
                events=events,
            )
        )
        if up:
            ppp.append(
                Interface(
                    name=name,
                    kind="ppp",
                    admin_up=True,
                    carrier=True,
                    ipv4=tuple(addresses.get(name, ())),
                    ipv6=ipv6.get(name, ()),
                )
            )
    return dialers, ppp


def parse_wifi(document: dict[str, Any]) -> tuple[WifiLink, ...]:
    links = wifi.parse_netsh_interfaces(str(document.get("wlan") or ""))
    networks = wifi.parse_netsh_networks(str(document.get("wlannetworks") or ""))
    failures = "\n".join(str(e.get("Message") or "") for e in _list(document.get("wlanevents")))
    out = []
    for seen in links:
        link = seen
        if link.associated:
            link = wifi.with_neighbours(link, networks, None)
        else:
            failure = wifi.parse_wifi_log(failures)
            if failure is not None:
                link = link.model_copy(update={"failure": failure[0], "failure_detail": failure[1]})
        out.append(link)
    return tuple(out)


def _wininet_proxy(value: str) -> str:
    """`host:port` or per-protocol `http=host:port;https=…`: the one plain HTTP goes through."""
    if "=" not in value:
        return value
    parts = dict(p.split("=", 1) for p in value.split(";") if "=" in p)
    return parts.get("http", "")


def parse_winhttp(text: str) -> str | None:
    found = re.search(r"(?:Proxy Server\(s\)|代理服务器)\s*:\s*(\S+)", text)
    return found.group(1) if found else None


def parse_proxies(document: dict[str, Any]) -> tuple[ProxyConfig, ...]:
    found: list[ProxyConfig] = []
    inet = document.get("proxy") or {}
    if isinstance(inet, dict) and int(inet.get("ProxyEnable") or 0) == 1 and inet.get("ProxyServer"):
        proxy = parse_proxy_url(_wininet_proxy(str(inet["ProxyServer"])), "WinINET")
        if proxy is not None:
            found.append(proxy)
    winhttp = parse_winhttp(str(document.get("winhttp") or ""))
    if winhttp:
        proxy = parse_proxy_url(_wininet_proxy(winhttp), "WinHTTP")
        if proxy is not None and all(p.url != proxy.url for p in found):
            found.append(proxy)
    return tuple(found)


def parse_ipv6(document: dict[str, Any]) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Global IPv6 addresses per adapter, and adapters with an IPv6 default route."""
    found: dict[str, list[str]] = {}
    for entry in _list(document.get("addresses6")):
        if is_global6(str(entry.get("IPAddress") or "")):
            found.setdefault(entry["InterfaceAlias"], []).append(entry["IPAddress"])
    routed = tuple(dict.fromkeys(r["InterfaceAlias"] for r in _list(document.get("routes6"))))
    return {k: tuple(v) for k, v in found.items()}, routed
