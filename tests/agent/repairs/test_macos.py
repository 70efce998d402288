"""macOS repairs: the command lists."""

from __future__ import annotations

import pytest

from agent.repairs import RepairContext, RepairError
from agent.repairs.macos import plan


def test_plans() -> None:
    context = RepairContext(interface="en0")
    assert plan("dhcp.renew", context) == [["ipconfig", "set", "en0", "DHCP"]]
    assert plan("dns.flush_cache", RepairContext()) == [
        ["dscacheutil", "-flushcache"],
        ["killall", "-HUP", "mDNSResponder"],
    ]
    assert plan("nic.restart", context) == [["ifconfig", "en0", "down"], ["ifconfig", "en0", "up"]]


def test_not_on_macos_yet() -> None:
    with pytest.raises(RepairError):
        plan("dns.set_reference", RepairContext(interface="en0"))
    with pytest.raises(RepairError):
        plan("nic.enable", RepairContext())
