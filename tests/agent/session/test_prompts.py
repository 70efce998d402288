"""Prompts: answered once; no answer means Deny; the kill switch refuses what is open."""

from __future__ import annotations

import asyncio
import time

from agent.session.prompts import PromptBoard


async def test_timeout_is_deny_and_a_late_click_changes_nothing() -> None:
    board = PromptBoard()
    prompt = board.ask("action", {}, timeout_s=0.2)
    start = time.monotonic()
    assert await prompt.wait() == "timed_out"
    assert 0.15 < time.monotonic() - start < 1
    assert not board.answer(prompt.id, True)
    assert prompt.decision == "timed_out"


async def test_first_answer_wins() -> None:
    board = PromptBoard()
    prompt = board.ask("session", {}, timeout_s=5)
    waiter = asyncio.ensure_future(prompt.wait())
    assert board.answer(prompt.id, False)
    assert not board.answer(prompt.id, True)
    assert await waiter == "denied"


async def test_refuse_all() -> None:
    board = PromptBoard()
    prompts = [board.ask("action", {}, timeout_s=5) for _ in range(3)]
    assert board.refuse_all() == 3
    assert [await p.wait() for p in prompts] == ["refused"] * 3
    assert board.to_json() == []
