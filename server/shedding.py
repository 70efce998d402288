"""One log line per window for load shedding, not one per refused connection.

A reconnect storm sheds thousands of agents a minute (before TLS: `server.gate`; with HTTP 503:
`server.app.shed`). uvicorn logs every 503 denial twice — an access line and an *error* "ASGI callable
returned without completing handshake" (its WebSocket denial path never marks the handshake done) — so a
storm buried the log in errors that were no errors. Now the endpoint marks its denial in a context
variable, `UvicornShedFilter` drops uvicorn's two lines for it (the filter runs in the task that
served the request, which sees the mark), and `ShedLog` writes one warning per `window` seconds with
the counts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable

__all__ = ["SHEDDING", "ShedLog", "UvicornShedFilter"]

log = logging.getLogger("rme.server")

# Set (in the request's task) by the /ws/agent endpoint when it answers 503.
SHEDDING: contextvars.ContextVar[bool] = contextvars.ContextVar("rme_shedding", default=False)


class UvicornShedFilter(logging.Filter):
    """On `uvicorn.error`: drop the lines uvicorn writes for a 503 the endpoint chose to send."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not SHEDDING.get()


class ShedLog:
    """Counts refusals by kind and logs them as one summary per `window` seconds while shedding."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self.counts: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.on_note: Callable[[str], None] | None = None  # e.g. a metrics counter, set at start-up

    def note(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.on_note is not None:
            self.on_note(kind)
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a unit test): summarise at once
                self.flush()
                return
            self._timer = loop.call_later(self.window, self.flush)

    def flush(self) -> None:
        self._timer = None
        if not self.counts:
            return
        counts, self.counts = self.counts, {}
        log.warning(
            "shedding load: %d agent connection(s) refused in the last %.0f s",
            sum(counts.values()),
            self.window,
            extra={"refused": counts},
        )
