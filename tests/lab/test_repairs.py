"""Repairs in the fault lab: detect → resolve → verify through `rme-agent diagnose --fix` (consent read
from stdin), and `apply`/`undo` through the catalogue API, in the client namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.repairs import RepairOutcome
from tests.lab import wanlab
from tests.lab.netlab import GATEWAY_IP, PYTHON, REFERENCE_DNS, FaultLab

pytestmark = pytest.mark.netns


def test_public_dns_fixes_a_dead_resolver(lab: FaultLab) -> None:
    lab.resolver_down()
    run = lab.diagnose("--fix", stdin="y\n")
    assert "[dns.set_reference]" in run.stderr and "Verified: the problem is gone." in run.stderr
    assert (run.report.verdict, run.report.root_cause) == ("ok", None)
    assert [
        line.split()[1] for line in lab.resolv_conf.read_text().splitlines() if line.startswith("nameserver")
    ] == list(REFERENCE_DNS)


def test_declining_a_repair_changes_nothing(lab: FaultLab) -> None:
    lab.resolver_down()
    before = lab.resolv_conf.read_text()
    run = lab.diagnose("--fix", stdin="n\n")
    assert "Skipped repair dns.set_reference." in run.stderr
    assert run.report.root_cause == "dns.unreachable"
    assert lab.resolv_conf.read_text() == before


def test_no_answer_is_no(lab: FaultLab) -> None:
    lab.resolver_down()
    run = lab.diagnose("--fix", stdin="")  # stdin closed: nobody said yes
    assert run.report.root_cause == "dns.unreachable"


def test_renewing_the_lease_fixes_apipa_once_a_dhcp_server_appears(lab: FaultLab) -> None:
    lab.apipa()
    lab.enable_dhcp()
    run = lab.diagnose("--fix", stdin="y\n")
    assert "[dhcp.renew]" in run.stderr and "Verified: the problem is gone." in run.stderr
    assert (run.report.verdict, run.report.root_cause) == ("ok", None)
    leased = [
        a
        for a in lab.sh(lab.client, "ip", "-4", "-o", "addr", "show", "eth0").stdout.split()
        if a.startswith("10.77.0.1")
    ]
    assert leased and leased[0] != "10.77.0.2/24"
    assert lab.resolv_conf.read_text() == f"nameserver {GATEWAY_IP}\n"  # written by the lease, in place


def test_repairs_chain_until_the_network_works(lab: FaultLab) -> None:
    """Adapter off: enabling it leaves no default route (Linux drops it with the link), so the next
    repair renews the lease — two consents, two verifications, one working network."""
    lab.adapter_down()
    lab.enable_dhcp()
    run = lab.diagnose("--fix", stdin="y\ny\n")
    assert "[nic.enable]" in run.stderr and "[dhcp.renew]" in run.stderr
    assert run.report.verdict == "ok"


def _repair_tool(lab: FaultLab, *args: str, extra: tuple[str, ...] = ()) -> RepairOutcome:
    done = lab.sh(lab.client, PYTHON, "-m", "tests.lab.repair_tool", *args, str(lab.config), "eth0", *extra)
    return RepairOutcome.model_validate_json(done.stdout)


def test_set_reference_dns_is_undone_exactly(lab: FaultLab, tmp_path: Path) -> None:
    lab.set_resolvers("10.77.0.1", "10.77.0.53")
    original = lab.resolv_conf.read_text()
    outcome = _repair_tool(lab, "apply", "dns.set_reference")
    assert outcome.status == "done" and outcome.undo is not None
    assert "nameserver 223.5.5.5" in lab.resolv_conf.read_text()
    record = tmp_path / "undo.json"
    record.write_text(outcome.undo.model_dump_json())
    undone = _repair_tool(lab, "undo", str(record))
    assert undone.status == "done"
    assert lab.resolv_conf.read_text() == original


def test_enable_adapter_is_undone(lab: FaultLab, tmp_path: Path) -> None:
    lab.adapter_down()
    outcome = _repair_tool(lab, "apply", "nic.enable")
    assert outcome.status == "done" and outcome.undo is not None
    assert "UP" in lab.sh(lab.client, "ip", "-o", "link", "show", "eth0").stdout.split(">")[0]
    record = tmp_path / "undo.json"
    record.write_text(outcome.undo.model_dump_json())
    assert _repair_tool(lab, "undo", str(record)).status == "done"
    assert ",UP" not in lab.sh(lab.client, "ip", "-o", "link", "show", "eth0").stdout.split(">")[0]


def test_flush_cache_says_when_there_is_no_cache(lab: FaultLab) -> None:
    outcome = _repair_tool(lab, "apply", "dns.flush_cache")
    assert outcome.status == "not_applicable"


# --- issue 18 --------------------------------------------------------------------------------------------


def test_setting_the_mtu_fixes_the_black_hole(lab: FaultLab) -> None:
    wanlab.mtu_blackhole(lab)
    run = lab.diagnose("--fix", stdin="y\n")
    assert "[mtu.set]" in run.stderr and "Verified: the problem is gone." in run.stderr
    assert (run.report.verdict, run.report.root_cause) == ("ok", None)
    mtu = lab.sh(lab.client, "cat", "/sys/class/net/eth0/mtu").stdout.strip()
    assert int(mtu) <= wanlab.MTU_LIMIT


def test_mtu_is_undone_exactly(lab: FaultLab, tmp_path: Path) -> None:
    outcome = _repair_tool(lab, "apply", "mtu.set", extra=("mtu=1400",))
    assert outcome.status == "done" and outcome.undo is not None
    assert outcome.undo.data == {"previous": 1500}
    assert lab.sh(lab.client, "cat", "/sys/class/net/eth0/mtu").stdout.strip() == "1400"
    record = tmp_path / "undo.json"
    record.write_text(outcome.undo.model_dump_json())
    assert _repair_tool(lab, "undo", str(record)).status == "done"
    assert lab.sh(lab.client, "cat", "/sys/class/net/eth0/mtu").stdout.strip() == "1500"


def test_renewing_the_lease_fixes_no_dhcp_once_the_router_hands_out_addresses(lab: FaultLab) -> None:
    wanlab.dhcp_pool_exhausted(lab)
    assert lab.diagnose().report.root_cause == "dhcp.no_answer"
    lab.enable_dhcp()  # the router restarted: its pool is free again
    run = lab.diagnose("--fix", stdin="y\n")
    assert "[dhcp.renew]" in run.stderr and "Verified: the problem is gone." in run.stderr
    assert run.report.verdict == "ok"


def test_reset_dialer_config_keeps_the_account_and_is_undone_exactly(lab: FaultLab, tmp_path: Path) -> None:
    """The lab cannot dial (no PPP in this kernel): `pon` runs and fails after the reset, which is
    reported; the reset itself and its undo are real."""
    wanlab.pppoe_no_address(lab)
    peers = wanlab.peers_file(lab)
    original = peers.read_text()
    outcome = _repair_tool(lab, "apply", "pppoe.reset_config", extra=(f"dialer={wanlab.PEERS_NAME}",))
    assert outcome.status == "done" and outcome.undo is not None
    reset = peers.read_text()
    assert "10.99.0.2:" not in reset  # the hand-made static address is gone
    assert 'user "rme-lab@isp"' in reset and "plugin rp-pppoe.so eth0" in reset
    assert f"logfile {lab.ppp_log}" in reset
    assert [c.argv[0] for c in outcome.commands] == ["poff", "pon"]
    record = tmp_path / "undo.json"
    record.write_text(outcome.undo.model_dump_json())
    assert _repair_tool(lab, "undo", str(record)).status == "done"
    assert peers.read_text() == original
