"""From judgements to the JSON contract and to words; every text in both languages."""

from __future__ import annotations

import string

import pytest

from agent.diagnosis import report, rules, texts
from agent.i18n import Text
from protocol.report import DiagnosisReport
from tests.agent.diagnosis.facts_builder import healthy, recorded


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


ALL_TEXTS = {name: value for name, value in vars(texts).items() if isinstance(value, Text)}
ALL_TEXTS.update({f"VERDICT[{k}]": v for k, v in texts.VERDICT.items()})


@pytest.mark.parametrize("name", sorted(ALL_TEXTS))
def test_every_text_exists_in_both_languages_with_the_same_blanks(name: str) -> None:
    text = ALL_TEXTS[name]
    assert text.zh.strip() and text.en.strip()
    assert _fields(text.zh) == _fields(text.en)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text.zh), "the zh text is not Chinese"


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_report_matches_the_contract_in_each_language(lang: str) -> None:
    diagnosis = rules.judge(recorded("linux_lab_resolver_down.json"))
    built = report.build_report(diagnosis, "zh-CN" if lang == "zh-CN" else "en", 1234)
    again = DiagnosisReport.model_validate_json(built.model_dump_json())
    assert again == built
    assert (again.root_cause, again.verdict, again.duration_ms, again.lang) == (
        "dns.unreachable",
        "offline",
        1234,
        lang,
    )
    assert [f.check for f in again.findings] == list(rules.LOCAL_CHECKS + rules.ACTIVE_CHECKS)
    assert not any("{" in f.summary for f in again.findings)


def test_skipped_findings_say_why_in_the_chosen_language() -> None:
    diagnosis = rules.judge(recorded("linux_lab_apipa.json"))
    zh = report.build_report(diagnosis, "zh-CN", 0)
    skipped = [f for f in zh.findings if f.status == "skipped"]
    assert skipped and all(f.summary.startswith("未检查：") for f in skipped)


def test_text_output_shows_the_cause_first() -> None:
    built = report.build_report(rules.judge(recorded("linux_lab_captive_portal.json")), "en", 10)
    lines = report.render_text(built, "en").splitlines()
    assert lines[0] == "The internet is not reachable."
    assert lines[1].startswith(
        "Cause [internet.captive_portal]: A login page intercepts web traffic (HTTP 302"
    )
    ok = report.render_text(report.build_report(rules.judge(healthy()), "zh-CN", 10), "zh-CN").splitlines()
    assert ok[:2] == ["网络正常。", "没有发现故障。"]


@pytest.mark.parametrize(
    ("fixture", "cause", "zh_words"),
    [
        ("linux_lab_pppoe_suspended.json", "pppoe.auth_failed", "欠费"),
        ("linux_lab_mtu_blackhole.json", "mtu.blackhole", "MTU"),
        ("linux_lab_check_site_down.json", "internet.upstream_unknown", "原因"),
    ],
)
def test_new_causes_read_in_chinese_with_their_evidence(fixture: str, cause: str, zh_words: str) -> None:
    built = report.build_report(rules.judge(recorded(fixture)), "zh-CN", 5)
    again = DiagnosisReport.model_validate_json(built.model_dump_json())
    assert again.root_cause == cause
    finding = report.root_cause_finding(again)
    assert finding is not None and zh_words in finding.summary and finding.evidence
    text = report.render_text(again, "zh-CN")
    assert f"原因 [{cause}]" in text and "{" not in text.split("\n", 2)[1]


def test_headline_names_the_cause_in_plain_words_in_each_language() -> None:
    diagnosis = rules.judge(recorded("linux_lab_resolver_down.json"))
    zh, en = report.headline(diagnosis, "zh-CN"), report.headline(diagnosis, "en")
    assert en.startswith("The internet is not reachable. Cause: ") and zh.startswith("无法上网。原因：")
    cause = next(j for j in diagnosis.judgements if j.code == "dns.unreachable")
    assert en.endswith(report.render_judgement(cause, "en"))
    assert zh.endswith(report.render_judgement(cause, "zh-CN"))
    assert "dns.unreachable" not in en + zh  # words, not the code
    assert report.headline(rules.judge(healthy()), "en") == "The network is working."
