"""Windows repairs are command lists: checked exactly, quoting included (they cannot run here)."""

from __future__ import annotations

import pytest

from agent.repairs import RepairContext, RepairError, UndoRecord
from agent.repairs.windows import POWERSHELL, dns_snapshot_command, plan, ps_quote, undo_plan

CONTEXT = RepairContext(interface="Ethernet 2", reference_dns=("223.5.5.5", "119.29.29.29"))


def test_plans() -> None:
    assert plan("dhcp.renew", CONTEXT) == [["ipconfig", "/renew", "Ethernet 2"]]
    assert plan("dns.flush_cache", CONTEXT) == [["ipconfig", "/flushdns"]]
    assert plan("dns.set_reference", CONTEXT) == [
        [
            *POWERSHELL,
            "Set-DnsClientServerAddress -InterfaceAlias "
            "'Ethernet 2' -ServerAddresses '223.5.5.5','119.29.29.29'",
        ]
    ]
    assert plan("nic.enable", CONTEXT) == [
        [*POWERSHELL, "Enable-NetAdapter -Name 'Ethernet 2' -Confirm:$false"]
    ]
    assert plan("nic.restart", CONTEXT) == [
        [*POWERSHELL, "Restart-NetAdapter -Name 'Ethernet 2' -Confirm:$false"]
    ]
    assert plan("winsock.reset", CONTEXT) == [["netsh", "winsock", "reset"]]


def test_adapter_names_cannot_break_out_of_the_quotes() -> None:
    hostile = RepairContext(interface="x'; Remove-Item C:\\ -Recurse; '")
    command = plan("nic.enable", hostile)[0][-1]
    assert command == "Enable-NetAdapter -Name 'x''; Remove-Item C:\\ -Recurse; ''' -Confirm:$false"
    assert ps_quote("以太网") == "'以太网'"


def test_snapshot_reads_servers_and_whether_they_were_static() -> None:
    command = dns_snapshot_command("WLAN")[-1]
    assert "Get-DnsClientServerAddress -InterfaceAlias 'WLAN'" in command and "NameServer" in command


def test_undo_restores_static_servers_or_goes_back_to_dhcp() -> None:
    static = UndoRecord(
        repair_id="dns.set_reference",
        platform="windows",
        interface="WLAN",
        data={"servers": ["192.168.1.1", "114.114.114.114"], "static": True},
    )
    assert undo_plan(static) == [
        [
            *POWERSHELL,
            "Set-DnsClientServerAddress -InterfaceAlias 'WLAN' "
            "-ServerAddresses '192.168.1.1','114.114.114.114'",
        ]
    ]
    dhcp = UndoRecord(
        repair_id="dns.set_reference",
        platform="windows",
        interface="WLAN",
        data={"servers": ["192.168.1.1"], "static": False},
    )
    assert undo_plan(dhcp) == [
        [*POWERSHELL, "Set-DnsClientServerAddress -InterfaceAlias 'WLAN' -ResetServerAddresses"]
    ]
    enable = UndoRecord(repair_id="nic.enable", platform="windows", interface="WLAN")
    assert undo_plan(enable) == [[*POWERSHELL, "Disable-NetAdapter -Name 'WLAN' -Confirm:$false"]]


def test_missing_adapter_and_irreversible_repairs() -> None:
    with pytest.raises(RepairError):
        plan("dhcp.renew", RepairContext())
    with pytest.raises(RepairError):
        undo_plan(UndoRecord(repair_id="winsock.reset", platform="windows", interface=None))


def test_dialup_and_mtu_plans() -> None:
    context = CONTEXT.model_copy(update={"mtu": 1464, "dialer": "宽带连接"})
    assert plan("pppoe.redial", context) == [["rasdial", "宽带连接", "/disconnect"], ["rasdial", "宽带连接"]]
    assert plan("mtu.set", context) == [
        [*POWERSHELL, "Set-NetIPInterface -InterfaceAlias 'Ethernet 2' -AddressFamily IPv4 -NlMtuBytes 1464"]
    ]
    record = UndoRecord(
        repair_id="mtu.set", platform="windows", interface="Ethernet 2", data={"previous": 1500}
    )
    assert undo_plan(record) == [
        [*POWERSHELL, "Set-NetIPInterface -InterfaceAlias 'Ethernet 2' -AddressFamily IPv4 -NlMtuBytes 1500"]
    ]
    with pytest.raises(RepairError):
        plan("mtu.set", CONTEXT)  # no MTU given
    with pytest.raises(RepairError):
        plan("pppoe.redial", CONTEXT)  # no dialer given
