"""Every word of the console exists in zh-CN and en (`console/js/i18n.js`): both tables have the same
keys, every literal `t("key")` in the console's code names one, and every enum value the console turns
into a key (`state_…`, `reason_…`, `act_…`, …) has its words — taken from the Python sources of truth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import get_args

import pytest
from playwright.sync_api import Browser, Page

from protocol.actions import ACTION_KINDS
from protocol.lifecycle import ActionState
from protocol.messages import SessionEndReason
from protocol.report import ROOT_CAUSE_CODES, FindingStatus, Verdict
from server.accounts.engineers import LoginFailure
from server.db.tables import SUBSCRIPTIONS, TICKET_STATES
from server.kpi import TARGETS
from tests.console.conftest import new_context
from tests.server.helpers import ROOT, RunningServer

JS_DIR = ROOT / "console" / "js"


@pytest.fixture(scope="module")
def strings(console_server: RunningServer, browser: Browser) -> Iterator[dict[str, object]]:
    context = new_context(browser)
    page: Page = context.new_page()
    page.goto(f"{console_server.base}/console/")
    try:
        script = (
            "async () => { const m = await import('/console/js/i18n.js');"
            " return { en: m.KEYS, zh: m.KEYS_ZH }; }"
        )
        yield page.evaluate(script)
    finally:
        context.close()


def _literal_keys() -> set[str]:
    found: set[str] = set()
    for path in JS_DIR.rglob("*.js"):
        found.update(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']""", path.read_text("utf-8")))
    return found


def test_both_languages_have_the_same_keys(strings: dict[str, list[str]]) -> None:
    assert set(strings["en"]) == set(strings["zh"])
    assert len(strings["en"]) > 150


def test_every_literal_key_exists(strings: dict[str, list[str]]) -> None:
    missing = _literal_keys() - set(strings["en"])
    assert not missing


def test_every_enum_the_console_shows_has_words(strings: dict[str, list[str]]) -> None:
    keys = set(strings["en"])
    wanted = (
        [f"state_{s}" for s in TICKET_STATES]
        + [f"reason_{r}" for r in get_args(SessionEndReason)]
        + [f"act_{s.value}" for s in ActionState] + ["act_timed_out"]
        + [f"kind_{k}" for k in ACTION_KINDS]
        + [f"sub_{s}" for s in SUBSCRIPTIONS]
        + [f"verdict_{v}" for v in get_args(Verdict)] + ["verdict_none"]
        + [f"st_{s}" for s in get_args(FindingStatus)]
        + [f"why_{f.value}" for f in LoginFailure]
        + [f"risk_{r}" for r in ("low", "medium", "high")]
        + [f"k_{t.key}" for t in TARGETS] + [f"k_detail_{t.key}" for t in TARGETS]
    )  # fmt: skip
    assert not [k for k in wanted if k not in keys]


def test_every_root_cause_has_plain_words() -> None:
    source = (JS_DIR / "i18n.js").read_text("utf-8")
    # Codes may hold digits (ipv6.broken).
    causes = set(re.findall(r'^\s*"([a-z0-9_.]+)": \[', source, re.MULTILINE))
    assert set(ROOT_CAUSE_CODES) <= causes


def test_no_markup_from_data() -> None:
    """User words, output and evidence are text nodes: no innerHTML anywhere in the console."""
    offenders = [p.name for p in JS_DIR.rglob("*.js") if "innerHTML" in p.read_text("utf-8")]
    assert not offenders
