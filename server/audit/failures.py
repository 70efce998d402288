"""Anonymous failures (bad logins, failed device proofs, failed enrollments), aggregated.

Anyone on the internet can cause these, ~200 a second from one client, and each used to be a
permanent row in the append-only log: a stranger could fill the disk. Instead each failure is
*counted* in memory, and only a *sample* is written as its own event — a token bucket allows
`SAMPLE_BURST` at once and one more every `1 / SAMPLE_RATE` seconds, so a real engineer's one
mistyped password is still recorded at once, with its details. Every `flush` (the audit keeper calls
it each minute, and at shutdown) writes one `audit.failures` event with the counts by kind and
reason, the busiest addresses and names (bounded), and how many failures were not sampled.

Bounded whatever the flood: ≤ SAMPLE_BURST + SAMPLE_RATE·t sample rows plus one summary a minute,
and the counters hold at most `MAX_KEYS` distinct addresses and names each.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from server.audit.events import AuditWriteError, encode_time
from server.audit.jcs import JsonValue


class AuditLog(Protocol):
    """The part of `server.audit.log.AuditLog` the aggregator writes through (no import back: the log
    owns an aggregator)."""

    async def append(self, kind: str, actor: str, session_id: str | None, data: Any) -> Any: ...


__all__ = ["SAMPLE_BURST", "SAMPLE_RATE", "FailureAggregator", "note_failure"]

log = logging.getLogger("rme.audit.failures")

SAMPLE_BURST = 20
SAMPLE_RATE = 0.1  # sampled events per second once the burst is spent (6 a minute)
MAX_KEYS = 50
OTHER = "(other)"


def _bounded_add(counter: Counter[str], key: str) -> None:
    if key in counter or len(counter) < MAX_KEYS:
        counter[key] += 1
    else:
        counter[OTHER] += 1


class FailureAggregator:
    """Counts anonymous failures and writes a bounded sample of them to the audit log."""

    def __init__(self, audit: AuditLog, *, burst: int = SAMPLE_BURST, rate: float = SAMPLE_RATE) -> None:
        self.audit = audit
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self.since = datetime.now(UTC)
        self.counts: Counter[str] = Counter()  # "kind reason" -> n
        self.addresses: Counter[str] = Counter()
        self.actors: Counter[str] = Counter()
        self.sampled = 0
        self.total = 0

    def _take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def note(
        self,
        kind: str,
        actor: str,
        reason: str,
        *,
        address: str | None = None,
        data: Mapping[str, JsonValue] | None = None,
    ) -> None:
        """Count one failure; record it as its own event if the sample allows. Never raises: the
        refusal stands whether or not it could be recorded."""
        self.total += 1
        self.counts[f"{kind} {reason}"[:200]] += 1
        _bounded_add(self.addresses, address or "unknown")
        _bounded_add(self.actors, actor[:255])
        if not self._take():
            return
        self.sampled += 1
        event: dict[str, JsonValue] = {"reason": reason, "ip": address, "sampled": True}
        event.update(data or {})
        with contextlib.suppress(AuditWriteError):
            await self.audit.append(kind, actor, None, event)

    async def flush(self) -> bool:
        """Write the counts since the last flush as one `audit.failures` event (none if nothing
        failed). Returns True if an event was written."""
        if not self.total:
            return False
        counts, addresses, actors = self.counts, self.addresses, self.actors
        summary: dict[str, JsonValue] = {
            "since": encode_time(self.since),
            "until": encode_time(datetime.now(UTC)),
            "total": self.total,
            "sampled": self.sampled,
            "not_sampled": self.total - self.sampled,
            "by_kind": dict(counts.most_common()),
            "addresses": dict(addresses.most_common(MAX_KEYS)),
            "actors": dict(actors.most_common(MAX_KEYS)),
        }
        self._reset()
        try:
            await self.audit.append("audit.failures", "system", None, summary)
        except AuditWriteError:
            log.exception("could not write the failure summary")
            return False
        return True


async def note_failure(
    audit: object,
    kind: str,
    actor: str,
    reason: str,
    *,
    address: str | None = None,
    data: Mapping[str, JsonValue] | None = None,
) -> None:
    """Record an anonymous failure through `audit`'s aggregator (the call sites' one entry point).

    `audit` is the server's audit sink; one that is not an `AuditLog` (a test double) gets a plain
    append. Never raises."""
    aggregator = getattr(audit, "failures", None)  # the log's own (no import of the log: it imports us)
    if isinstance(aggregator, FailureAggregator):
        await aggregator.note(kind, actor, reason, address=address, data=data)
        return
    append = getattr(audit, "append", None)
    if append is not None:
        with contextlib.suppress(AuditWriteError):
            await append(kind, actor, None, {"reason": reason, "ip": address, **(data or {})})
