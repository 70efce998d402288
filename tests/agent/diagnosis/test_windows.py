"""Windows fact parsing on recorded PowerShell JSON (ConvertTo-Json's quirks included)."""

from __future__ import annotations

from agent.diagnosis import windows
from tests.agent.diagnosis.facts_builder import windows_local


def test_healthy_machine_with_wifi_and_hyper_v() -> None:
    facts = windows_local("windows_healthy.json")
    by_name = {i.name: i for i in facts.interfaces}
    assert set(by_name) == {"Ethernet", "WLAN", "vEthernet (Default Switch)"}
    eth = by_name["Ethernet"]
    assert (eth.kind, eth.admin_up, eth.carrier, eth.driver_ok, eth.mac) == (
        "ethernet",
        True,
        True,
        True,
        "3c:7c:3f:1a:2b:3c",
    )
    assert [(a.address, a.prefix, a.dhcp) for a in eth.ipv4] == [("192.168.1.23", 24, True)]
    assert by_name["WLAN"].kind == "wifi" and by_name["WLAN"].carrier is False
    assert by_name["vEthernet (Default Switch)"].kind == "virtual"
    # A single route comes back as a bare object, not a list.
    assert [(r.gateway, r.interface, r.metric) for r in facts.default_routes] == [
        ("192.168.1.1", "Ethernet", 25)
    ]
    # Only the resolvers of adapters that carry a default route, loopback excluded.
    assert facts.resolvers.servers == ("192.168.1.1",)


def test_disabled_adapter() -> None:
    eth = windows_local("windows_disabled.json").interfaces[0]
    assert (eth.admin_up, eth.driver_ok, eth.carrier) == (False, True, None)


def test_driver_error_codes_name_the_fault() -> None:
    eth = windows_local("windows_driver_error.json").interfaces[0]
    assert (eth.driver_ok, eth.driver_error) == (False, "device reported a problem")


def test_cable_unplugged_keeps_its_apipa_address() -> None:
    facts = windows_local("windows_cable_unplugged.json")
    eth = facts.interfaces[0]
    assert eth.carrier is False and eth.ipv4[0].is_apipa
    assert facts.default_routes == ()


def test_apipa_with_windows_placeholder_resolvers() -> None:
    facts = windows_local("windows_apipa.json")
    assert facts.interfaces[0].name == "以太网"
    assert [a.address for a in facts.interfaces[0].ipv4] == ["169.254.143.9"]
    assert facts.resolvers.servers == ("fec0:0:0:ffff::1", "fec0:0:0:ffff::2")


def test_duplicate_address_state_is_a_conflict() -> None:
    address = windows_local("windows_duplicate.json").interfaces[0].ipv4[0]
    assert (address.address, address.duplicate, address.dhcp) == ("192.168.1.50", True, False)


def test_wifi_ssid_only_on_a_connected_wifi_adapter() -> None:
    by_name = {i.name: i for i in windows_local("windows_wifi.json").interfaces}
    assert by_name["WLAN"].wifi_ssid == "Xiaomi_5G_8A3F"
    assert by_name["Ethernet"].wifi_ssid is None


def test_empty_document_is_no_adapter_not_a_crash() -> None:
    facts = windows.parse_facts(
        {"adapters": None, "cim": None, "addresses": None, "routes": None, "dns": None}
    )
    assert facts.interfaces == () and facts.resolvers.servers == ()


def test_the_script_casts_enums_to_strings() -> None:
    for prop in ("Status", "MediaConnectionState", "AddressState", "PrefixOrigin"):
        assert f"@{{n='{prop}';e={{[string]$_.{prop}}}}}" in windows.POWERSHELL_SCRIPT
