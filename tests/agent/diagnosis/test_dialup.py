"""PPPoE dial-up on recorded facts: pppd logs, Windows RAS errors and phonebooks, and the rule."""

from __future__ import annotations

import pytest

from agent.diagnosis import dialup, rules
from agent.diagnosis.facts import Address, Dialer, DialerEvent, Facts, Interface, LocalFacts, PppoeDiscovery
from tests.agent.diagnosis.facts_builder import FIXTURES, windows_local


def log(name: str) -> tuple[DialerEvent, ...]:
    return dialup.parse_pppd_log((FIXTURES / name).read_text())


def test_pppd_logs_are_classified() -> None:
    assert [e.kind for e in log("linux_pppd_no_pado.log")] == ["no_answer", "no_answer"]
    auth = log("linux_pppd_auth.log")
    assert [e.kind for e in auth] == ["auth_failed", "dropped"]
    assert auth[0].message == "Authentication failure,password error"
    assert auth[0].at == "Nov 30 21:20:14"
    suspended = log("linux_pppd_suspended.log")
    assert suspended[0].kind == "suspended" and suspended[0].message == "您的账号已欠费停机，请及时缴费"
    assert [e.kind for e in log("linux_pppd_ipcp.log")] == ["no_address"]
    drops = log("linux_pppd_drops.log")
    assert dialup.count_drops(drops) == 3 and dialup.last_failure(drops) is None


def test_chap_failure_text_carries_the_reason() -> None:
    # pppd logs the failure twice, the second time without the server's text: one failure, the reason kept.
    events = dialup.parse_pppd_log(
        "CHAP authentication failed: E=691 R=0 M=Account expired\nCHAP authentication failed\n"
    )
    assert [(e.kind, e.message) for e in events] == [("suspended", "E=691 R=0 M=Account expired")]


def test_a_drop_after_auth_failure_is_not_a_session_drop() -> None:
    assert dialup.count_drops(log("linux_pppd_auth.log")) == 0


@pytest.mark.parametrize(
    ("code", "kind"),
    [(651, "no_answer"), (678, "no_answer"), (691, "auth_failed"), (718, "auth_timeout"), (720, "no_address"),
     (769, "adapter"), (815, "no_answer"), (999, "other")],
)  # fmt: skip
def test_ras_errors(code: int, kind: str) -> None:
    event = dialup.ras_event(code)
    assert (event.kind, event.code) == (kind, code)
    assert event.detail.startswith(f"{code}: ")


def test_rasclient_events_in_both_languages() -> None:
    en = (
        "The user X dialed a connection named Broadband which has failed. "
        "The error code returned on failure is 678."
    )
    zh = "用户 X 拨打了名为 宽带连接 的连接，但连接失败。失败时返回的错误代码是 691。"
    assert dialup.parse_rasclient_event(20227, en) == dialup.ras_event(678)
    assert dialup.parse_rasclient_event(20227, zh) == dialup.ras_event(691)
    user_hung_up = (
        "The user X has disconnected a connection named Broadband. "
        "The reason code returned on termination is 0."
    )
    assert dialup.parse_rasclient_event(20226, user_hung_up) is None
    line_dropped = user_hung_up.replace("is 0.", "is 629.")
    dropped = dialup.parse_rasclient_event(20226, line_dropped)
    assert dropped is not None and (dropped.kind, dropped.code) == ("dropped", 629)
    assert dialup.parse_rasclient_event(20225, "connected") == DialerEvent(
        kind="connected", detail="connected"
    )


def test_peers_files() -> None:
    debian = 'pty "/usr/sbin/pppoe -I eth0 -T 80 -m 1452"\nnoipdefault\nuser "myname@isp"\n'
    assert dialup.parse_peers_file(debian) == dialup.PeersFile("eth0", None, None, True)
    plugin = "plugin rp-pppoe.so\nnic-enp3s0\nifname dsl0\nlogfile /var/log/ppp.log\n"
    assert dialup.parse_peers_file(plugin) == dialup.PeersFile("enp3s0", "/var/log/ppp.log", "dsl0", True)
    assert dialup.parse_peers_file("plugin pppoe.so enp3s0 # comment\n").device == "enp3s0"
    assert not dialup.parse_peers_file("/dev/ttyUSB0 115200\nconnect chat\n").pppoe


def test_rasphone_keeps_only_pppoe_entries() -> None:
    text = "[VPN]\nDevice=WAN Miniport (IKEv2)\n[宽带连接]\nMEDIA=rastapi\nDevice=WAN Miniport (PPPOE)\n"
    assert dialup.parse_rasphone(text) == [("宽带连接", "WAN Miniport (PPPOE)")]


ETH = Interface(name="eth0", admin_up=True, carrier=True, mac="00:11:22:33:44:55")


def judge_down(events: tuple[DialerEvent, ...], discovery: PppoeDiscovery | None) -> rules.Diagnosis:
    dialer = Dialer(name="dsl", source="/etc/ppp/peers/dsl", device="eth0", events=events)
    local = LocalFacts(platform="linux", interfaces=(ETH,), dialers=(dialer,))
    return rules.judge(Facts(local=local, pppoe=discovery, active_probes=False))


ANSWERED = PppoeDiscovery(interface="eth0", answered=True, concentrator="BRAS-1", latency_ms=3.0)
SILENT = PppoeDiscovery(interface="eth0", answered=False, latency_ms=1500.0)


@pytest.mark.parametrize(
    ("fixture", "discovery", "cause", "reason"),
    [
        ("linux_pppd_no_pado.log", SILENT, "pppoe.no_answer", None),
        ("linux_pppd_no_pado.log", None, "pppoe.no_answer", None),
        ("linux_pppd_auth.log", ANSWERED, "pppoe.auth_failed", "refused"),
        ("linux_pppd_suspended.log", ANSWERED, "pppoe.auth_failed", "suspended"),
        ("linux_pppd_ipcp.log", ANSWERED, "pppoe.no_address", None),
        ("linux_pppd_drops.log", ANSWERED, "pppoe.unstable", None),
        # The log says "no answer", but a concentrator answers now: the line is back, the session is not.
        ("linux_pppd_no_pado.log", ANSWERED, "pppoe.unstable", None),
        # A concentrator that does not answer now beats an old auth failure: nothing gets that far.
        ("linux_pppd_auth.log", SILENT, "pppoe.no_answer", None),
    ],
)
def test_a_down_dialer_names_the_phase_that_failed(
    fixture: str, discovery: PppoeDiscovery | None, cause: str, reason: str | None
) -> None:
    diagnosis = judge_down(log(fixture), discovery)
    assert diagnosis.root_cause == cause
    session = next(j for j in diagnosis.judgements if j.check == "pppoe.session")
    assert session.evidence.get("reason") == reason
    assert next(j for j in diagnosis.judgements if j.check == "ip.address").status == "skipped"


def test_suspended_and_refused_are_told_differently() -> None:
    refused = judge_down(log("linux_pppd_auth.log"), ANSWERED)
    suspended = judge_down(log("linux_pppd_suspended.log"), ANSWERED)
    refused_text = next(j for j in refused.judgements if j.check == "pppoe.session").text
    assert refused_text.en.startswith("The provider refused the broadband account or password")
    suspended_text = next(j for j in suspended.judgements if j.check == "pppoe.session")
    assert (
        "arrears" in suspended_text.text.en
        and suspended_text.fields["message"] == "您的账号已欠费停机，请及时缴费"
    )


def test_a_connected_dialer_with_drops_is_a_warning_only() -> None:
    ppp = Interface(
        name="ppp0",
        kind="ppp",
        admin_up=True,
        carrier=True,
        ipv4=(Address(address="100.66.3.17", prefix=32),),
    )
    dialer = Dialer(name="dsl", source="x", device="eth0", interface="ppp0", connected=True,
                    events=log("linux_pppd_drops.log") + log("linux_pppd_drops.log"))  # fmt: skip
    judgement = dialup.judge_dialer(dialer, ppp, None)
    assert (judgement.status, judgement.code) == ("warn", "pppoe.unstable")


def test_windows_691_is_an_authentication_failure() -> None:
    local = windows_local("windows_pppoe_691.json")
    assert local.dialers[0].name == "宽带连接" and local.dialers[0].device == "以太网"
    diagnosis = rules.judge(Facts(local=local, active_probes=False))
    assert (diagnosis.root_cause, diagnosis.interface) == ("pppoe.auth_failed", "以太网")


def test_windows_651_means_no_answer() -> None:
    diagnosis = rules.judge(Facts(local=windows_local("windows_pppoe_651.json"), active_probes=False))
    assert diagnosis.root_cause == "pppoe.no_answer"
    session = next(j for j in diagnosis.judgements if j.check == "pppoe.session")
    assert session.evidence["last_error"] == {
        "kind": "no_answer",
        "code": 651,
        "detail": "651: the modem (or other connecting device) has reported an error",
    }


def test_windows_connected_dialer_is_judged_on_its_ppp_interface() -> None:
    local = windows_local("windows_pppoe_connected.json")
    ppp = next(i for i in local.interfaces if i.kind == "ppp")
    assert (ppp.name, ppp.ipv4[0].address, ppp.ipv6) == ("宽带连接", "100.66.3.17", ("240e:3b0:1234::17",))
    assert local.ipv6_default_route == ("宽带连接",)
    assert local.resolvers.servers == ("202.96.128.86", "202.96.134.133")
    assert [(p.url, p.source) for p in local.proxies] == [
        ("http://127.0.0.1:7890", "WinINET"),
        ("http://10.1.1.1:3128", "WinHTTP"),
    ]
    judged = rules.judge_local(local)
    assert [j.status for j in judged] == ["ok"] * len(judged)
    assert next(j for j in judged if j.check == "route.default").evidence == {"gateway": None}
