"""Session ends the server has not heard about yet (the kill switch while the network was down).

Written to `<data-dir>/unreported-ends.json` *before* the agent tries to send them and removed only once
the server has provably received them (a WebSocket ping answered after the frame), so a session ended
offline is reported on the next connection, even after a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class UnreportedEnd:
    session: str
    reason: str
    ended_ms: int
    note: str | None = None


class UnreportedEnds:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[UnreportedEnd]:
        try:
            items = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return []
        out: list[UnreportedEnd] = []
        for item in items if isinstance(items, list) else []:
            with contextlib.suppress(TypeError):
                out.append(UnreportedEnd(**item))
        return out

    def _save(self, items: list[UnreportedEnd]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump([asdict(i) for i in items], handle)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(self.path)

    def add(self, item: UnreportedEnd) -> None:
        items = [i for i in self.load() if i.session != item.session]
        self._save([*items, item])

    def remove(self, session: str) -> None:
        items = self.load()
        kept = [i for i in items if i.session != session]
        if len(kept) != len(items):
            self._save(kept)
