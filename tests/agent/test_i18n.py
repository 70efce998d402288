import pytest

from agent.i18n import Text, parse_lang, system_lang


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh_CN.UTF-8", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("en_US.UTF-8", "en"),
        ("C", "en"),
        ("fr_FR", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_lang(value: str | None, expected: str | None) -> None:
    assert parse_lang(value) == expected


def test_system_lang_prefers_rme_lang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.setenv("RME_LANG", "zh-CN")
    assert system_lang() == "zh-CN"


def test_text_renders_each_language_with_fields() -> None:
    text = Text("网关 {ip} 无响应", "Gateway {ip} does not answer")
    assert text.render("zh-CN", ip="192.168.1.1") == "网关 192.168.1.1 无响应"
    assert text.render("en", ip="192.168.1.1") == "Gateway 192.168.1.1 does not answer"
