"""Questions put to the user: accept this engineer? allow this request? No answer in time means no.

A `Prompt` is answered at most once — by the user (panel button), by its timeout (Deny), or by the kill
switch (refused). Whichever comes first wins; later answers are ignored, so a late click can never turn
a timed-out Deny into an Allow.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allowed", "denied", "timed_out", "refused"]


@dataclass
class Prompt:
    id: str
    kind: Literal["session", "action"]
    content: dict[str, Any]  # what the panel shows, in both languages
    timeout_s: float
    created: float = field(default_factory=time.monotonic)
    decision: Decision | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def deadline(self) -> float:
        return self.created + self.timeout_s

    def answer(self, decision: Decision) -> bool:
        """Settle the prompt; False if it was already settled."""
        if self.decision is not None:
            return False
        self.decision = decision
        self._done.set()
        return True

    async def wait(self) -> Decision:
        """The user's decision, or `timed_out` when the timeout passes first."""
        remaining = self.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                await self._done.wait()
        except TimeoutError:
            self.answer("timed_out")
        assert self.decision is not None
        return self.decision

    def to_json(self) -> dict[str, Any]:
        left = max(0.0, self.deadline - time.monotonic())
        return {
            "id": self.id,
            "kind": self.kind,
            "content": self.content,
            "seconds_left": round(left, 1),
            "timeout_s": self.timeout_s,
        }


class PromptBoard:
    """The prompts waiting for the user, in the order they were asked."""

    def __init__(self) -> None:
        self.pending: dict[str, Prompt] = {}

    def ask(self, kind: Literal["session", "action"], content: dict[str, Any], timeout_s: float) -> Prompt:
        prompt = Prompt(secrets.token_urlsafe(12), kind, content, timeout_s)
        self.pending[prompt.id] = prompt
        return prompt

    def settle(self, prompt: Prompt) -> None:
        self.pending.pop(prompt.id, None)

    def answer(self, prompt_id: str, allow: bool) -> bool:
        prompt = self.pending.get(prompt_id)
        if prompt is None:
            return False
        return prompt.answer("allowed" if allow else "denied")

    def refuse_all(self) -> int:
        """The kill switch: every open question becomes `refused`. Returns how many there were."""
        count = sum(prompt.answer("refused") for prompt in list(self.pending.values()))
        self.pending.clear()
        return count

    def to_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.pending.values() if p.decision is None]
