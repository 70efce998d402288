"""What the user sees and keeps: the live activity feed and the user's own session log.

Every event — a connection change, a request, a consent, a result, the end — becomes one `FeedEntry`
in both languages. The panel shows the entries live (long-polling `changed`); the same entry is
appended, in the user's language, to a plain-text log file that stays on the PC (one file per day in
`<data-dir>/logs/`). The log is flushed line by line so a crash or a kill switch loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.datadir import open_private_append
from agent.i18n import Lang, Text

MAX_FEED = 500  # entries kept in memory for the panel; the log file keeps everything


@dataclass(frozen=True)
class FeedEntry:
    seq: int
    ts: float
    kind: str  # connection · help · session · request · consent · result · end · file · info
    text: Text
    detail: str | None = None  # verbatim extra (a command line, output excerpt), shown as-is

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "text": {"zh-CN": self.text.zh, "en": self.text.en},
            "detail": self.detail,
        }


class UserLog:
    """Append-only readable log: `2026-11-21 22:40:01  [consent]  You allowed: Run a command`."""

    def __init__(self, directory: Path, lang: Lang) -> None:
        self.directory = directory
        self.lang = lang

    def path_for(self, when: dt.datetime) -> Path:
        return self.directory / f"rme-{when:%Y-%m-%d}.log"

    def write(self, entry: FeedEntry) -> None:
        when = dt.datetime.fromtimestamp(entry.ts).astimezone()
        line = f"{when:%Y-%m-%d %H:%M:%S}  [{entry.kind}]  {entry.text.render(self.lang)}"
        if entry.detail:
            line += "\n" + "\n".join(f"        | {part}" for part in entry.detail.splitlines()[:40])
        # Owner-only (0600): the log holds commands, chat and output (see agent.datadir).
        with os.fdopen(open_private_append(self.path_for(when)), "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class Feed:
    """The live feed plus a change counter that the panel's long-poll waits on."""

    def __init__(self, log: UserLog | None) -> None:
        self.log = log
        self.entries: deque[FeedEntry] = deque(maxlen=MAX_FEED)
        self.version = 0
        self._changed = asyncio.Event()
        self._seq = 0
        self.closing = False  # the agent is stopping: long-polls return at once

    def add(self, kind: str, template: Text, detail: str | None = None, **fields: object) -> FeedEntry:
        text = template
        if fields:
            zh = {k: v.zh if isinstance(v, Text) else v for k, v in fields.items()}
            en = {k: v.en if isinstance(v, Text) else v for k, v in fields.items()}
            text = Text(text.zh.format(**zh), text.en.format(**en))
        self._seq += 1
        entry = FeedEntry(self._seq, dt.datetime.now().timestamp(), kind, text, detail)
        self.entries.append(entry)
        if self.log is not None:
            with contextlib.suppress(OSError):  # a full disk must not stop the kill switch
                self.log.write(entry)
        self.touch()
        return entry

    def touch(self) -> None:
        """Something the panel shows changed: wake every waiting long-poll."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, since: int, wait_s: float) -> int:
        """Wait until the version moves past `since` (or the timeout); returns the current version."""
        if self.version != since or self.closing:
            return self.version
        event = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await event.wait()
        return self.version
