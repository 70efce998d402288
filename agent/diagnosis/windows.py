"""Windows probes: one PowerShell run collects every local fact as JSON; `parse_facts` turns it into
`LocalFacts`. Parsing is pure and tested on recorded outputs (tests/agent/diagnosis/fixtures/windows_*.json);
the I/O is one subprocess call, plus ICMP through the Win32 API (IcmpSendEcho needs no admin rights).

What each source tells us:
- `Get-NetAdapter`: Status (Up / Disconnected / Disabled / Not Present), MediaConnectionState, media type;
- `Win32_NetworkAdapter.ConfigManagerErrorCode`: driver faults (10 cannot start, 28 no driver, 43 …);
- `Get-NetIPAddress`: AddressState `Duplicate` is Windows' own address-conflict detection; PrefixOrigin
  `WellKnown` / SuffixOrigin `Link` is APIPA;
- `Get-NetRoute 0.0.0.0/0`, `Get-DnsClientServerAddress`: default gateways and resolvers per adapter.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import socket
import subprocess
from typing import Any

from agent.diagnosis import windows_services
from agent.diagnosis.facts import Address, Interface, InterfaceKind, LocalFacts, ResolverConfig, Route

# Enums are cast to [string] so the JSON does not depend on the PowerShell version's enum encoding.
POWERSHELL_SCRIPT = r"""
$ErrorActionPreference = 'SilentlyContinue'
[pscustomobject]@{
  adapters = @(Get-NetAdapter | Select-Object Name, InterfaceDescription, ifIndex, MacAddress,
    @{n='Status';e={[string]$_.Status}}, @{n='MediaConnectionState';e={[string]$_.MediaConnectionState}},
    @{n='NdisPhysicalMedium';e={[string]$_.NdisPhysicalMedium}}, Virtual, MtuSize)
  cim = @(Get-CimInstance Win32_NetworkAdapter -Filter 'PhysicalAdapter=True' |
    Select-Object NetConnectionID, ConfigManagerErrorCode, NetEnabled)
  addresses = @(Get-NetIPAddress -AddressFamily IPv4 | Select-Object InterfaceAlias, IPAddress, PrefixLength,
    @{n='AddressState';e={[string]$_.AddressState}}, @{n='PrefixOrigin';e={[string]$_.PrefixOrigin}})
  routes = @(Get-NetRoute -AddressFamily IPv4 -DestinationPrefix 0.0.0.0/0 |
    Select-Object InterfaceAlias, NextHop, RouteMetric, InterfaceMetric)
  dns = @(Get-DnsClientServerAddress -AddressFamily IPv4 | Select-Object InterfaceAlias, ServerAddresses)
  ssid = (netsh wlan show interfaces | Select-String '^\s+SSID\s+:' | Select-Object -First 1 |
    ForEach-Object { ($_ -split ':', 2)[1].Trim() })
  addresses6 = @(Get-NetIPAddress -AddressFamily IPv6 | Select-Object InterfaceAlias, IPAddress)
  routes6 = @(Get-NetRoute -AddressFamily IPv6 -DestinationPrefix ::/0 | Select-Object InterfaceAlias)
  rasphone = ((Get-Content "$env:APPDATA\Microsoft\Network\Connections\Pbk\rasphone.pbk",
    "$env:ProgramData\Microsoft\Network\Connections\Pbk\rasphone.pbk") -join "`n")
  rasdial = ((rasdial) -join "`n")
  rasevents = @(Get-WinEvent -FilterHashtable @{LogName='Application'; ProviderName='RasClient';
    StartTime=(Get-Date).AddHours(-1)} -MaxEvents 50 |
    Select-Object Id, @{n='Time';e={$_.TimeCreated.ToString('o')}}, Message)
  wlan = ((netsh wlan show interfaces) -join "`n")
  wlannetworks = ((netsh wlan show networks mode=bssid) -join "`n")
  wlanevents = @(Get-WinEvent -FilterHashtable @{LogName='Microsoft-Windows-WLAN-AutoConfig/Operational';
    Id=8002; StartTime=(Get-Date).AddMinutes(-10)} -MaxEvents 5 | Select-Object Message)
  proxy = (Get-ItemProperty 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Internet Settings' |
    Select-Object ProxyEnable, ProxyServer, AutoConfigURL)
  winhttp = ((netsh winhttp show proxy) -join "`n")
} | ConvertTo-Json -Depth 4 -Compress
"""

ON_LINK = "0.0.0.0"  # noqa: S104  (Get-NetRoute NextHop of an on-link route, not a bind)
# ConfigManagerErrorCode values that mean the driver, not the user, stopped the adapter (22 = disabled).
_DRIVER_ERRORS = {
    1: "not configured",
    3: "driver corrupted",
    10: "cannot start",
    12: "no free resources",
    18: "reinstall drivers",
    28: "drivers not installed",
    31: "driver not working",
    39: "driver missing or corrupted",
    43: "device reported a problem",
    45: "not connected",
}
_MEDIUM_KINDS: dict[str, InterfaceKind] = {"802.3": "ethernet", "Native802_11": "wifi", "Wireless": "wifi"}


def _list(value: Any) -> list[Any]:
    """ConvertTo-Json writes one-item arrays as a bare object and empty ones as null."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_facts(document: dict[str, Any]) -> LocalFacts:
    cim = {c.get("NetConnectionID"): c for c in _list(document.get("cim"))}
    addresses: dict[str, list[Address]] = {}
    for entry in _list(document.get("addresses")):
        alias = entry["InterfaceAlias"]
        if str(entry["IPAddress"]).startswith("127."):
            continue
        addresses.setdefault(alias, []).append(
            Address(
                address=entry["IPAddress"],
                prefix=int(entry["PrefixLength"]),
                duplicate=entry.get("AddressState") == "Duplicate",
                dhcp=entry.get("PrefixOrigin") == "Dhcp",
            )
        )
    ipv6, ipv6_routed = windows_services.parse_ipv6(document)
    interfaces = []
    for adapter in _list(document.get("adapters")):
        name = adapter["Name"]
        status = adapter.get("Status") or ""
        error_code = int((cim.get(name) or {}).get("ConfigManagerErrorCode") or 0)
        driver_error = _DRIVER_ERRORS.get(error_code)
        if status == "Not Present" and driver_error is None:
            driver_error = "device not present"
        kind = _MEDIUM_KINDS.get(adapter.get("NdisPhysicalMedium") or "", "other")
        if adapter.get("Virtual"):
            kind = "virtual"
        media = adapter.get("MediaConnectionState")
        carrier = {"Connected": True, "Disconnected": False}.get(media or "")
        interfaces.append(
            Interface(
                name=name,
                description=adapter.get("InterfaceDescription"),
                kind=kind,
                admin_up=status != "Disabled" and error_code != 22,
                carrier=carrier,
                driver_ok=driver_error is None,
                driver_error=driver_error,
                mac=(adapter.get("MacAddress") or "").replace("-", ":").lower() or None,
                ipv4=tuple(addresses.get(name, ())),
                wifi_ssid=document.get("ssid") if kind == "wifi" and carrier else None,
                ipv6=ipv6.get(name, ()),
                mtu=int(adapter.get("MtuSize") or 0) or None,
            )
        )
    dialers, ppp = windows_services.parse_dialers(document, interfaces, addresses, ipv6)
    interfaces += ppp
    routes = tuple(
        Route(
            gateway=None if r.get("NextHop") in (None, ON_LINK) else r["NextHop"],
            interface=r["InterfaceAlias"],
            metric=int(r.get("RouteMetric") or 0) + int(r.get("InterfaceMetric") or 0),
        )
        for r in _list(document.get("routes"))
    )
    servers: list[str] = []
    preferred = sorted(routes, key=lambda r: r.metric)
    order = [r.interface for r in preferred]
    dns_entries = sorted(
        _list(document.get("dns")),
        key=lambda d: order.index(d["InterfaceAlias"]) if d["InterfaceAlias"] in order else 99,
    )
    for entry in dns_entries:
        if order and entry["InterfaceAlias"] not in order:
            continue
        for server in _list(entry.get("ServerAddresses")):
            if server not in servers:
                servers.append(server)
    return LocalFacts(
        platform="windows",
        interfaces=tuple(interfaces),
        default_routes=routes,
        resolvers=ResolverConfig(servers=tuple(servers), source="Get-DnsClientServerAddress"),
        ipv6_default_route=ipv6_routed,
        dialers=tuple(dialers),
        wifi=windows_services.parse_wifi(document),
        proxies=windows_services.parse_proxies(document),
    )


def read_local_facts() -> LocalFacts:
    completed = subprocess.run(
        ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", POWERSHELL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if completed.returncode != 0 or not completed.stdout.strip():
        return LocalFacts(platform="windows", errors=(f"powershell: {completed.stderr.strip()[:200]}",))
    return parse_facts(json.loads(completed.stdout))


async def icmp_echo(host: str, timeout_s: float) -> float | None:
    """Ping through IcmpSendEcho (iphlpapi.dll): no raw socket, no admin rights."""
    return await asyncio.to_thread(_icmp_send_echo, host, timeout_s)


def _icmp_send_echo(host: str, timeout_s: float) -> float | None:
    iphlpapi = ctypes.WinDLL("iphlpapi.dll")  # type: ignore[attr-defined,unused-ignore]
    handle = iphlpapi.IcmpCreateFile()
    try:
        address = int.from_bytes(socket.inet_aton(host), "little")
        payload = b"rme-agent"
        reply = ctypes.create_string_buffer(64 + len(payload) + 8)
        count = iphlpapi.IcmpSendEcho(
            handle, address, payload, len(payload), None, reply, len(reply), int(timeout_s * 1000)
        )
        if count == 0:
            return None
        # ICMP_ECHO_REPLY: Address (4 bytes), Status (4), RoundTripTime (4 bytes, ms)
        status = int.from_bytes(reply.raw[4:8], "little")
        return float(int.from_bytes(reply.raw[8:12], "little")) if status == 0 else None
    finally:
        iphlpapi.IcmpCloseHandle(handle)
