"""Wi-Fi on recorded output only: this kernel has no mac80211_hwsim, so no simulated radio here."""

from __future__ import annotations

from typing import Any

from agent.diagnosis import rules, wifi
from agent.diagnosis.facts import Address, Facts, GatewayProbe, Interface, Route, WifiLink
from tests.agent.diagnosis.facts_builder import FIXTURES, GATEWAY, healthy, local, windows_local

WLAN = Interface(name="wlp2s0", kind="wifi", admin_up=True, carrier=True, mac="3c:91:80:12:34:56")


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_iw_link_connected_and_not() -> None:
    link = wifi.parse_iw_link("wlp2s0", text("linux_iw_link.txt"))
    assert (link.associated, link.ssid, link.signal_dbm, link.channel) == (True, "ChinaNet-7F3A", -84, 6)
    assert link.signal_quality == 32
    assert wifi.parse_iw_link("wlp2s0", "Not connected.\n") == WifiLink(interface="wlp2s0", associated=False)


def test_iw_scan_and_survey() -> None:
    scan = "BSS 0c:4b:54:aa:bb:cc(on wlp2s0)\n\tfreq: 2437\n\tSSID: A\nBSS 50:bd:5f:01:02:03(on wlp2s0)\n"
    scan += "\tfreq: 2437\n\tSSID: B\n\tDS Parameter set: channel 6\n"
    scan += "BSS 9c:a6:15:04:05:06(on wlp2s0)\n\tfreq: 5745\n"
    assert wifi.parse_iw_scan(scan) == [("A", 6), ("B", 6), (None, 149)]
    assert wifi.parse_iw_survey(text("linux_iw_survey.txt")) == 77


def test_logs_tell_a_refused_password() -> None:
    failure = wifi.parse_wifi_log(text("linux_wpa_wrong_key.log"))
    assert failure is not None and failure[0] == "auth" and "WRONG_KEY" in failure[1]
    nm = (
        "device (wlp2s0): state change: need-auth -> failed (reason 'no-secrets', sys-iface-state: 'managed')"
    )
    assert wifi.parse_wifi_log(nm) == ("auth", nm)
    assert wifi.parse_wifi_log("CTRL-EVENT-ASSOC-REJECT bssid=x status_code=17") == (
        "other",
        "CTRL-EVENT-ASSOC-REJECT bssid=x status_code=17",
    )
    assert (
        wifi.parse_wifi_log(text("linux_wpa_wrong_key.log") + "wlp2s0: CTRL-EVENT-CONNECTED - ok\n") is None
    )


def test_netsh_in_english_and_chinese() -> None:
    [en] = wifi.parse_netsh_interfaces(text("windows_netsh_wlan_en.txt"))
    assert (en.interface, en.associated, en.ssid, en.signal_percent, en.channel) == (
        "Wi-Fi",
        True,
        "ChinaNet-7F3A",
        22,
        6,
    )
    [zh] = wifi.parse_netsh_interfaces(text("windows_netsh_wlan_zh.txt"))
    assert (zh.interface, zh.associated, zh.ssid) == ("WLAN", False, None)
    networks = wifi.parse_netsh_networks(text("windows_netsh_networks_en.txt"))
    assert networks == [("ChinaNet-7F3A", 6), ("TP-LINK_5A21", 6), ("CMCC-xYz9", 149)]


def facts_with(link: WifiLink, **changes: Any) -> Facts:
    """A healthy home network reached over Wi-Fi, with `link` as what the radio says."""
    wlan = WLAN.model_copy(update={"ipv4": (Address(address="192.168.1.23", prefix=24),)})
    routes = (Route(gateway=GATEWAY, interface="wlp2s0"),)
    return healthy(local=local(interfaces=(wlan,), wifi=(link,), default_routes=routes), **changes)


def test_not_associated_and_refused_password_are_the_link_layer() -> None:
    down = Interface(name="wlp2s0", kind="wifi", admin_up=True, carrier=False)
    for link, cause in (
        (WifiLink(interface="wlp2s0", associated=False), "wifi.not_associated"),
        (
            WifiLink(interface="wlp2s0", associated=False, failure="auth", failure_detail="WRONG_KEY"),
            "wifi.auth_failed",
        ),
    ):
        diagnosis = rules.judge(
            Facts(local=local(interfaces=(down,), wifi=(link,), default_routes=()), active_probes=False)
        )
        assert diagnosis.root_cause == cause


def test_weak_signal_explains_a_silent_gateway_but_is_only_a_warning_when_things_work() -> None:
    weak = WifiLink(interface="wlp2s0", associated=True, ssid="home", signal_dbm=-86, channel=6)
    working = rules.judge(facts_with(weak))
    assert (working.root_cause, working.verdict) == (None, "degraded")
    signal = next(j for j in working.judgements if j.check == "wifi.signal")
    assert (signal.status, signal.code, signal.evidence["signal_dbm"]) == ("warn", "wifi.weak_signal", -86)
    silent = GatewayProbe(gateway=GATEWAY, answered=False, icmp_answered=False)
    broken = rules.judge(facts_with(weak, gateway=silent, tcp=(), references=(), http=None))
    assert broken.root_cause == "wifi.weak_signal"
    strong = rules.judge(facts_with(weak.model_copy(update={"signal_dbm": -52})))
    assert (strong.root_cause, strong.verdict) == (None, "ok")


def test_a_crowded_channel_is_a_warning() -> None:
    crowded = WifiLink(interface="wlp2s0", associated=True, ssid="home", signal_dbm=-50, channel=6,
                       same_channel_networks=11, channel_busy_percent=77)  # fmt: skip
    diagnosis = rules.judge(facts_with(crowded))
    channel = next(j for j in diagnosis.judgements if j.check == "wifi.channel")
    assert (channel.status, channel.code, diagnosis.root_cause) == ("warn", "wifi.congested", None)
    assert channel.fields["detail"] == "11 networks, busy 77%"


def test_windows_weak_wifi_from_netsh() -> None:
    local_facts = windows_local("windows_wifi_weak.json")
    [link] = local_facts.wifi
    assert (link.interface, link.signal_percent, link.same_channel_networks) == ("WLAN", 22, 1)
    diagnosis = rules.judge(healthy(local=local_facts))
    assert diagnosis.interface == "WLAN"
    signal = next(j for j in diagnosis.judgements if j.check == "wifi.signal")
    assert (signal.status, signal.code) == ("warn", "wifi.weak_signal")
