"""What the panel shows of the session: the session, the one prompt on screen, the queue behind it,
command output (in full, with its size, and whether it was sent), the recent actions and the rating.

Everything here is built from the session book and escaped for display: a command or its output never
reaches the page with raw control, ANSI or bidi characters (`agent.executors.readable.escape`); the
page also inserts it as text, never as markup.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from agent.executors.readable import escape
from agent.i18n import Text
from agent.session.book import ActionRecord, SessionBook
from agent.session.rating import RatingDesk
from protocol.actions import CommandOutcome

MAX_OUTPUTS = 10  # finished outputs kept on screen besides those still waiting for the user
MAX_ACTIONS = 50
QUEUE_PREVIEW = 300  # characters of a queued command shown in the queue (its prompt shows all of it)
OutputState = Literal["held", "sent", "kept", "auto", "dropped"]


@dataclass
class ShownOutput:
    action_id: str
    title: Text
    command: str  # escaped
    output: str  # escaped, complete as captured
    size: int  # bytes of the output as captured (UTF-8)
    truncated: bool  # the command printed more than the cap; the rest was never kept
    exit_code: int | None
    duration_ms: int
    state: OutputState

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "title": {"zh-CN": self.title.zh, "en": self.title.en},
            "command": self.command,
            "output": self.output,
            "size": self.size,
            "lines": self.output.count("\n") + (0 if self.output.endswith("\n") or not self.output else 1),
            "truncated": self.truncated,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
            "state": self.state,
        }


class OutputShelf:
    """Command outputs the user has seen or must still decide on, newest last."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, ShownOutput] = OrderedDict()

    def add(self, record: ActionRecord, outcome: CommandOutcome, state: OutputState) -> None:
        command = getattr(record.params, "command", "")
        self.items[record.id] = ShownOutput(
            record.id,
            record.title(),
            escape(command),
            escape(outcome.output, keep="\n\t"),
            len(outcome.output.encode("utf-8")),
            outcome.truncated,
            outcome.exit_code,
            outcome.duration_ms,
            state,
        )
        finished = [k for k, v in self.items.items() if v.state != "held"]
        for key in finished[: max(0, len(finished) - MAX_OUTPUTS)]:
            del self.items[key]

    def mark(self, action_id: str, state: OutputState) -> None:
        item = self.items.get(action_id)
        if item is not None:
            item.state = state

    def drop_held(self) -> None:
        """The session ended: what was held is never sent."""
        for item in self.items.values():
            if item.state == "held":
                item.state = "dropped"

    def to_json(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self.items.values()]


def _prompt_json(book: SessionBook, now: float) -> list[dict[str, Any]]:
    prompt = book.prompt
    if prompt is None:
        return []
    return [
        {
            "id": prompt.id,
            "kind": prompt.kind,
            "content": prompt.content,
            "seconds_left": round(max(0.0, prompt.deadline - now), 1),
            "timeout_s": prompt.timeout_s,
            "offers_auto_send": prompt.offers_auto_send,
        }
    ]


def _queue_json(book: SessionBook) -> list[dict[str, Any]]:
    out = []
    for record in book.waiting():
        shown = {lang: record.described[lang] for lang in ("zh-CN", "en")}
        verbatim = shown["en"].verbatim
        out.append(
            {
                "id": record.id,
                "zh-CN": shown["zh-CN"].title,
                "en": shown["en"].title,
                "preview": None if verbatim is None else verbatim[:QUEUE_PREVIEW],
                "length": shown["en"].length,
                "warned": bool(shown["en"].warnings),
            }
        )
    return out


def guard_json(book: SessionBook, rating: RatingDesk, outputs: OutputShelf, now: float) -> dict[str, Any]:
    info = book.session
    session = None
    if info is not None:
        session = {
            "id": info.id,
            "state": info.state.value,
            "ticket": info.ticket_id,
            "engineer": {"name": info.engineer.name, "id": info.engineer.id},
            "started": info.started,
        }
    actions = [
        {
            "id": r.id,
            "state": r.state.value,
            "zh-CN": r.described["zh-CN"].title,
            "en": r.described["en"].title,
        }
        for r in list(book.actions.values())[-MAX_ACTIONS:]
    ]
    return {
        "session": session,
        "prompts": _prompt_json(book, now),
        "queue": _queue_json(book),
        "outputs": outputs.to_json(),
        "actions": actions,
        "rating": rating.to_json(),
        # screen views and controls that are on: each with a Stop button in the panel
        "screens": [
            {"id": r.id, "kind": r.kind, "zh-CN": r.described["zh-CN"].title, "en": r.described["en"].title}
            for r in book.streams()
        ],
    }
