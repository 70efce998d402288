"""A reporter that records what an executor told the session, instead of a guard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.i18n import Text


@dataclass
class Recorder:
    live_ids: set[str] = field(default_factory=set)
    progress_seen: list[dict[str, Any]] = field(default_factory=list)
    shown: list[tuple[str, Text, str | None, dict[str, object]]] = field(default_factory=list)

    def progress(
        self, action_id: str, *, done: int | None = None, total: int | None = None, note: str | None = None
    ) -> None:
        self.progress_seen.append({"id": action_id, "done": done, "total": total, "note": note})

    def show(self, kind: str, template: Text, detail: str | None = None, **fields: object) -> None:
        self.shown.append((kind, template, detail, fields))

    def live(self, action_id: str) -> bool:
        return action_id in self.live_ids
