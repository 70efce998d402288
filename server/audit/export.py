"""Per-session audit exports and their offline verification (pure: no database, no network).

An export carries the session's events (their exact canonical JSON), one inclusion proof per event
to a single signed checkpoint, the list of the session's leaf indexes, and the log's verifier key.
`verify_export` trusts nothing in the file except through the key the *caller* trusts:

1. the checkpoint note must carry a valid Ed25519 signature by the trusted key;
2. each event's leaf hash, with its proof, must lead to the checkpoint's root (changed → fails);
3. indexes must be strictly increasing and match the events listed (reordered → fails);
4. each event names the previous event of its session (`session_prev`); the first names none. A
   dropped event breaks that chain even if the index list is edited to match (dropped → fails);
5. each command output attached (`outputs`, the texts still retained; `server.audit.outputs`) must
   hash to the SHA-256 and size its `action.result` event recorded (changed → fails).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.audit.events import EVENT_VERSION
from server.audit.jcs import NotCanonicalisableError, canonicalize, parse
from server.audit.merkle import ProofError, leaf_hash, verify_inclusion
from server.audit.note import NoteError, NoteVerifier, open_checkpoint
from server.audit.outputs import ExportedOutput, check_outputs

__all__ = ["EXPORT_FORMAT", "ExportedEvent", "SessionAuditExport", "VerificationReport", "verify_export"]

EXPORT_FORMAT = "rme-audit-session-export/1"


class ExportFormatError(ValueError):
    """The export file is not a well-formed session export."""


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    index: int
    leaf: str  # the canonical JSON text that was hashed
    proof: list[bytes]

    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.leaf)
        return parsed


@dataclass(frozen=True, slots=True)
class SessionAuditExport:
    session_id: str
    origin: str
    checkpoint: str  # signed-note text
    verifier_key: str  # the key the log says it signs with; verify against one you trust
    indexes: list[int]
    events: list[ExportedEvent]
    created_at: datetime
    # Command outputs still retained (the events hold only their hashes); absent from older exports.
    outputs: list[ExportedOutput] = field(default_factory=list)

    def to_json(self) -> str:
        document = {
            "format": EXPORT_FORMAT,
            "session_id": self.session_id,
            "origin": self.origin,
            "created_at": self.created_at.isoformat(),
            "verifier_key": self.verifier_key,
            "checkpoint": self.checkpoint,
            "indexes": self.indexes,
            "events": [
                {
                    "index": event.index,
                    "leaf": event.leaf,
                    "proof": [base64.b64encode(p).decode() for p in event.proof],
                }
                for event in self.events
            ],
        }
        if self.outputs:
            document["outputs"] = [output.document() for output in self.outputs]
        return json.dumps(document, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SessionAuditExport:
        try:
            document = json.loads(text)
            if not isinstance(document, Mapping) or document.get("format") != EXPORT_FORMAT:
                raise ExportFormatError(f"not an {EXPORT_FORMAT} document")
            events = [
                ExportedEvent(
                    index=_int(item["index"]),
                    leaf=_str(item["leaf"]),
                    proof=[base64.b64decode(_str(p), validate=True) for p in item["proof"]],
                )
                for item in document["events"]
            ]
            return cls(
                session_id=_str(document["session_id"]),
                origin=_str(document["origin"]),
                checkpoint=_str(document["checkpoint"]),
                verifier_key=_str(document["verifier_key"]),
                indexes=[_int(i) for i in document["indexes"]],
                events=events,
                created_at=datetime.fromisoformat(_str(document["created_at"])),
                outputs=[ExportedOutput.from_document(item) for item in document.get("outputs", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ExportFormatError):
                raise
            raise ExportFormatError(f"malformed session export: {exc!r}") from exc


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExportFormatError(f"expected an integer, got {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ExportFormatError(f"expected a string, got {value!r}")
    return value


@dataclass(slots=True)
class VerificationReport:
    """What `verify_export` found. `ok` only if there are no problems."""

    session_id: str
    origin: str | None = None
    signer: str | None = None
    tree_size: int | None = None
    root: bytes | None = None
    events_checked: int = 0
    outputs_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.tree_size is not None

    def summary(self) -> str:
        if self.ok:
            return (
                f"OK: {self.events_checked} events of session {self.session_id} are in log {self.origin} "
                f"(tree size {self.tree_size}, root {base64.b64encode(self.root or b'').decode()}), "
                f"signed by {self.signer}"
                + (
                    f"; {self.outputs_checked} command outputs match their signed hashes"
                    if self.outputs_checked
                    else ""
                )
            )
        return f"FAILED: session {self.session_id}: {len(self.problems)} problem(s)"


def verify_export(export: SessionAuditExport, trusted_key: NoteVerifier | str) -> VerificationReport:
    """Check a session export offline against the verifier key the caller trusts."""
    report = VerificationReport(session_id=export.session_id)
    try:
        trusted = trusted_key if isinstance(trusted_key, NoteVerifier) else NoteVerifier.parse(trusted_key)
        signed = open_checkpoint(export.checkpoint, trusted)
    except NoteError as exc:
        report.problems.append(f"checkpoint: {exc}")
        return report
    checkpoint = signed.checkpoint
    report.origin, report.signer = checkpoint.origin, str(trusted)
    report.tree_size, report.root = checkpoint.size, checkpoint.root
    if checkpoint.origin != export.origin:
        report.problems.append(
            f"checkpoint is for log {checkpoint.origin!r}, export claims {export.origin!r}"
        )
    listed = [event.index for event in export.events]
    if export.indexes != listed:
        report.problems.append(f"index list {export.indexes} does not match the events {listed}")
    if any(b <= a for a, b in itertools.pairwise(listed)):
        report.problems.append("events are not in strictly increasing leaf order (reordered or duplicated)")
    previous: int | None = None
    for position, event in enumerate(export.events):
        problem = _check_event(event, export.session_id, previous, checkpoint.size, checkpoint.root)
        if problem:
            report.problems.append(f"event #{position} (leaf {event.index}): {problem}")
        else:
            report.events_checked += 1
        previous = event.index
    output_problems = check_outputs((event.leaf for event in export.events), export.outputs)
    report.problems.extend(output_problems)
    report.outputs_checked = len(export.outputs) - len(output_problems)
    return report


def _check_event(
    event: ExportedEvent, session_id: str, previous: int | None, size: int, root: bytes
) -> str | None:
    raw = event.leaf.encode("utf-8")
    try:
        verify_inclusion(event.index, size, leaf_hash(raw), event.proof, root)
    except ProofError as exc:
        return f"not in the signed log as shown (changed or forged): {exc}"
    try:
        document = json.loads(event.leaf)
        if canonicalize(parse(event.leaf)) != raw:
            return "leaf is not canonical JSON"
    except (ValueError, NotCanonicalisableError) as exc:
        return f"leaf is not JSON: {exc}"
    if not isinstance(document, dict) or document.get("v") != EVENT_VERSION:
        return "leaf is not a version 1 audit event"
    if document.get("index") != event.index:
        return f"leaf says it is index {document.get('index')}"
    if document.get("session") != session_id:
        return f"leaf belongs to session {document.get('session')!r}"
    if document.get("session_prev") != previous:
        expected = "no earlier event" if previous is None else f"leaf {previous}"
        return (
            f"session chain broken: event follows leaf {document.get('session_prev')}, "
            f"export shows {expected} (an event was dropped or reordered)"
        )
    return None
