"""Linux dialers, proxies and Wi-Fi facts from files (no packets)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.diagnosis import linux_services
from agent.diagnosis.facts import Address, Interface
from tests.agent.diagnosis.facts_builder import FIXTURES

ETH = Interface(name="enp3s0", admin_up=True, carrier=True)
PPP = Interface(
    name="ppp0", kind="ppp", admin_up=True, carrier=True, ipv4=(Address(address="100.66.3.17", prefix=32),)
)


def test_peers_files_become_dialers_with_their_log(tmp_path: Path) -> None:
    peers = tmp_path / "peers"
    peers.mkdir()
    log = tmp_path / "ppp.log"
    log.write_text((FIXTURES / "linux_pppd_auth.log").read_text())
    (peers / "dsl").write_text(f'plugin rp-pppoe.so enp3s0\nuser "a@isp"\nlogfile {log}\n')
    (peers / "gprs").write_text("/dev/ttyUSB0\nconnect chat\n")  # not PPPoE
    [dialer] = linux_services.read_dialers((ETH,), peers, tmp_path / "nm")
    assert (dialer.name, dialer.device, dialer.connected, dialer.source) == (
        "dsl",
        "enp3s0",
        False,
        str(peers / "dsl"),
    )
    assert [e.kind for e in dialer.events] == ["auth_failed", "dropped"]
    [up] = linux_services.read_dialers((ETH, PPP), peers, tmp_path / "nm")
    assert (up.connected, up.interface) == (True, "ppp0")


def test_networkmanager_pppoe_connection(tmp_path: Path) -> None:
    (tmp_path / "dsl.nmconnection").write_text(
        "[connection]\nid=宽带\ntype=pppoe\n\n[pppoe]\nparent=enp3s0\nusername=a@isp\n"
    )
    (tmp_path / "wired.nmconnection").write_text("[connection]\nid=Wired\ntype=ethernet\n")
    [dialer] = linux_services.read_dialers((ETH, PPP), tmp_path / "none", tmp_path)
    assert (dialer.name, dialer.device, dialer.connected) == ("宽带", "enp3s0", True)
    assert dialer.source == "NetworkManager (dsl.nmconnection)"


def test_proxy_urls() -> None:
    parse = linux_services.parse_proxy_url
    assert parse("http://10.0.0.1:3128/", "env").url == "http://10.0.0.1:3128"  # type: ignore[union-attr]
    assert parse("proxy.corp:8080", "env").host == "proxy.corp"  # type: ignore[union-attr]
    assert parse("http://10.0.0.1 3128", "kioslaverc").port == 3128  # type: ignore[union-attr]
    assert parse("socks5://127.0.0.1:1080", "env") is None
    assert parse("", "env") is None


def test_proxies_from_the_environment_and_kde(tmp_path: Path) -> None:
    config = tmp_path / ".config"
    config.mkdir()
    (config / "kioslaverc").write_text("[Proxy Settings]\nProxyType=1\nhttpProxy=http://10.0.0.2 8080\n")
    found = linux_services.read_proxies({"HTTPS_PROXY": "x", "http_proxy": "http://10.0.0.1:3128"}, tmp_path)
    assert [(p.url, p.source) for p in found] == [
        ("http://10.0.0.1:3128", "env http_proxy"),
        ("http://10.0.0.2:8080", "kioslaverc"),
    ]
    assert linux_services.read_proxies({}, tmp_path / "nobody") == ()


def test_a_dormant_template_costs_no_journal_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's ppp package ships /etc/ppp/peers/dsl-provider for eth0 on every machine."""
    peers = tmp_path / "peers"
    peers.mkdir()
    (peers / "dsl-provider").write_text('pty "/usr/sbin/pppoe -I enp3s0 -T 80 -m 1452"\n')
    commands: list[list[str]] = []

    def spy(argv: Sequence[str]) -> str:
        commands.append(list(argv))
        return ""

    monkeypatch.setattr(linux_services, "_run", spy)
    routed = ETH.model_copy(update={"ipv4": (Address(address="192.168.1.23", prefix=24),)})
    [dialer] = linux_services.read_dialers((routed,), peers, tmp_path / "nm")
    assert (dialer.device, dialer.events, commands) == ("enp3s0", (), [])
    linux_services.read_dialers((ETH,), peers, tmp_path / "nm")  # no address: the dialer may be in use
    assert commands and commands[0][0] == "journalctl"
