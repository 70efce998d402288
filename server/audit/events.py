"""What one audit leaf contains, and the errors the audit log raises.

Each event is hashed as the RFC 8785 canonical JSON of
    {"v": 1, "index": i, "time": "…Z", "kind": k, "actor": a, "session": s|null,
     "session_prev": j|null, "data": {...}}
`index` binds the leaf to its tree position; `session_prev` is the leaf index of the previous event
of the same session (null for the first), so an export that drops or reorders a session's events
breaks the chain even if the exporter also edits the list of indexes.

Exceptions::

    AuditError
    ├── AuditWriteError          the record is not durably written: the caller must refuse the action
    │   └── InvalidAuditEvent    the event itself cannot be recorded (bad kind, non-JSON data, …)
    └── AuditIntegrityError      the stored log contradicts itself (missing node, bad size)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.audit.jcs import JsonValue, NotCanonicalisableError, canonical_string, canonicalize

__all__ = [
    "EVENT_VERSION",
    "AuditEntry",
    "AuditError",
    "AuditIntegrityError",
    "AuditRecord",
    "AuditWriteError",
    "InvalidAuditEvent",
    "encode_time",
    "event_bytes",
]

EVENT_VERSION = 1
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_KIND = 64
MAX_ACTOR = 255
MAX_SESSION = 64
MAX_EVENT_BYTES = 256 * 1024


class AuditError(Exception):
    """Base of the audit log's errors."""


class AuditWriteError(AuditError):
    """The record could not be durably written; the action it records must be refused."""


class InvalidAuditEvent(AuditWriteError, ValueError):
    """The event cannot be recorded as given (a caller bug); nothing was written."""


class AuditIntegrityError(AuditError):
    """The stored log is inconsistent with itself (a missing or corrupt row)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An event to append: what happened (`kind`), who did it, in which session, and details."""

    kind: str
    actor: str
    session_id: str | None
    data: Mapping[str, JsonValue] = field(default_factory=dict)

    def validate(self) -> bytes:
        """Check the entry; returns its data's canonical bytes (a snapshot: later changes to `data`
        by the caller cannot alter what is written)."""
        if len(self.kind) > MAX_KIND or not _KIND_RE.match(self.kind):
            raise InvalidAuditEvent(f"bad event kind {self.kind!r} (dotted lowercase words, ≤ {MAX_KIND})")
        if not self.actor or len(self.actor) > MAX_ACTOR:
            raise InvalidAuditEvent(f"actor must be 1–{MAX_ACTOR} characters")
        if self.session_id is not None and not 0 < len(self.session_id) <= MAX_SESSION:
            raise InvalidAuditEvent(f"session id must be 1–{MAX_SESSION} characters")
        if not isinstance(self.data, Mapping):
            raise InvalidAuditEvent("event data must be a JSON object")
        try:
            data = canonicalize(self.data)
            canonical_string(self.actor)  # a lone surrogate, say
            if self.session_id is not None:
                canonical_string(self.session_id)
        except NotCanonicalisableError as exc:
            raise InvalidAuditEvent(f"event is not canonical JSON: {exc}") from exc
        if len(data) > MAX_EVENT_BYTES:
            raise InvalidAuditEvent(f"event data is {len(data)} bytes, over the {MAX_EVENT_BYTES} limit")
        return data


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A written event: its leaf `index` in the tree and `leaf_hash` = SHA-256(0x00 || canonical)."""

    index: int
    leaf_hash: bytes
    time: datetime
    kind: str
    actor: str
    session_id: str | None
    canonical: bytes


def encode_time(moment: datetime) -> str:
    """UTC, microseconds, 'Z': fixed width, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_document(
    index: int, moment: datetime, entry: AuditEntry, session_prev: int | None
) -> dict[str, Any]:
    return {
        "v": EVENT_VERSION,
        "index": index,
        "time": encode_time(moment),
        "kind": entry.kind,
        "actor": entry.actor,
        "session": entry.session_id,
        "session_prev": session_prev,
        "data": entry.data,
    }


def event_bytes(
    index: int, moment: datetime, entry: AuditEntry, session_prev: int | None, data: bytes | None = None
) -> bytes:
    """The canonical leaf bytes of an event (what the Merkle leaf hash covers).

    Equal to `canonicalize(event_document(...))` (a test holds it to that), but assembled directly:
    the member names are fixed ASCII, so their RFC 8785 order is known, and `data` may come already
    canonical. This is the hot path of every append.
    """
    if data is None:
        data = canonicalize(entry.data)
    session = b"null" if entry.session_id is None else canonical_string(entry.session_id)
    previous = b"null" if session_prev is None else str(session_prev).encode()
    return b"".join(
        (
            b'{"actor":',
            canonical_string(entry.actor),
            b',"data":',
            data,
            b',"index":',
            str(index).encode(),
            b',"kind":',
            canonical_string(entry.kind),
            b',"session":',
            session,
            b',"session_prev":',
            previous,
            b',"time":"',
            encode_time(moment).encode(),
            b'","v":',
            str(EVENT_VERSION).encode(),
            b"}",
        )
    )
