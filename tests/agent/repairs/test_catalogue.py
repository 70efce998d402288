"""The catalogue: complete, consistent with the rules, and readable in both languages."""

from __future__ import annotations

import pytest

from agent.diagnosis.rules import REPAIR_FOR
from agent.repairs import RepairError, catalogue, get_spec


def test_ids_are_unique_and_valid_codes() -> None:
    ids = [spec.id for spec in catalogue()]
    assert len(ids) == len(set(ids))
    assert set(ids) == {
        "dhcp.renew",
        "dns.flush_cache",
        "dns.set_reference",
        "nic.enable",
        "nic.restart",
        "winsock.reset",
        "pppoe.redial",
        "pppoe.reset_config",
        "mtu.set",
    }


def test_every_repair_a_finding_names_exists() -> None:
    for code, repair_id in REPAIR_FOR.items():
        assert get_spec(repair_id).id == repair_id, code


def test_platform_filter() -> None:
    assert "winsock.reset" in {s.id for s in catalogue("windows")}
    assert "winsock.reset" not in {s.id for s in catalogue("linux")}
    assert "dns.set_reference" not in {s.id for s in catalogue("macos")}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_description_fills_its_blanks(lang: str) -> None:
    for spec in catalogue():
        described = spec.describe("zh-CN" if lang == "zh-CN" else "en", interface="eth0", servers="223.5.5.5")
        assert all(
            isinstance(v, str) and v for k, v in described.items() if k in ("title", "risk_note", "undo")
        )
        assert "{" not in str(described["description"])
    described = get_spec("dns.set_reference").describe("en", servers="223.5.5.5, 119.29.29.29")
    assert described["description"] == "Set this adapter's DNS servers to 223.5.5.5, 119.29.29.29."
    assert (described["risk"], described["reversible"]) == ("medium", True)


def test_reversible_repairs_say_how_and_others_say_why_not() -> None:
    for spec in catalogue():
        assert spec.undo.en.startswith("Can be undone") == spec.reversible, spec.id


def test_unknown_repair() -> None:
    with pytest.raises(RepairError, match="unknown repair"):
        get_spec("disk.format")
