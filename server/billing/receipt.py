"""Signed service receipts (事后可查): pure — no database, no network.

A receipt is one JSON document (`rme-service-receipt/1`):

    {"format": "rme-service-receipt/1",
     "record":    what the user reads: item, engineer, times, resolution, price, and the steps,
     "audit":     the session's audit export (`rme-audit-session-export/1`: its events with
                  inclusion proofs to one signed checkpoint),
     "signature": a C2SP signed note by the audit log's key over
                  "rme-service-receipt/1\\n<session>\\n<base64 SHA-256 of JCS({record, checkpoint})>\\n"}

`verify_receipt` trusts only the key the caller trusts. It checks the note's signature (a changed
price, item, engineer or step → the digest differs → fails), the audit export (every event is in the
signed log, none dropped or reordered), and that the record agrees with those events: the steps are
re-derived from the events (`steps_from_events`) and must be equal, and the engineer, item and
outcome must be the ones the events name. So the record is what the audit log says happened, and the
parts the log does not hold (names, price) are vouched for by the server's signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.audit.export import ExportFormatError, SessionAuditExport, verify_export
from server.audit.jcs import canonicalize
from server.audit.note import NoteError, NoteVerifier, split_note

__all__ = [
    "RECEIPT_FORMAT",
    "ReceiptReport",
    "receipt_body",
    "steps_from_events",
    "verify_receipt",
]

RECEIPT_FORMAT = "rme-service-receipt/1"
_SIG_PREFIX = "\u2014 "  # a signed note's signature lines (c2sp.org/signed-note)


def steps_from_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each action of the session, in request order: what was asked (and why), the user's answer,
    its result, and for a pushed file its name, size and SHA-256 — from the audit events alone."""
    steps: dict[str, dict[str, Any]] = {}
    for event in events:
        kind, data = event.get("kind"), event.get("data") or {}
        if not isinstance(data, Mapping):
            continue
        action_id = data.get("action_id") or (data.get("action") if kind == "file.pushed" else None)
        if not isinstance(action_id, str):
            continue
        if kind == "action.request":
            found = data.get("action")
            params: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            steps[action_id] = {
                "action_id": action_id, "kind": params.get("kind"), "params": dict(params),
                "reason": data.get("reason", ""), "requested_by": event.get("actor"),
                "requested_at": event.get("time"), "decision": None, "status": None, "outcome": None,
                "file": None, "leaves": [event.get("index")],
            }  # fmt: skip
            continue
        step = steps.get(action_id)
        if step is None:
            continue
        step["leaves"].append(event.get("index"))
        if kind == "consent.reply":
            step["decision"] = data.get("decision")
        elif kind == "action.result":
            step["status"] = data.get("status")
            step["outcome"] = data.get("outcome")
        elif kind == "file.pushed":
            step["file"] = {
                "name": step["params"].get("name"), "size": data.get("size"), "sha256": data.get("sha256"),
                "matches": data.get("sha256") == data.get("announced"),
            }  # fmt: skip
    return list(steps.values())


def facts_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What the log says of the session as a whole: the engineer who accepted, the item the user
    picked (or agreed to change to), and how it ended."""
    facts: dict[str, Any] = {"engineer_id": None, "service_item": None, "outcome": None, "resolution": None}
    done_items: dict[str, str] = {}
    for event in events:
        kind, data = event.get("kind"), event.get("data") or {}
        if not isinstance(data, Mapping):
            continue
        if kind == "help.request":
            facts["service_item"] = data.get("service_item")
        elif kind == "ticket.accept":
            facts["engineer_id"] = data.get("engineer")
        elif kind == "action.request":
            params = data.get("action")
            if isinstance(params, Mapping) and params.get("kind") == "service_item":
                done_items[str(data.get("action_id"))] = str(params.get("item"))
        elif kind == "action.result" and data.get("status") == "ok":
            outcome = data.get("outcome")
            if isinstance(outcome, Mapping) and outcome.get("kind") == "service_item":
                facts["service_item"] = outcome.get("item")
        elif kind == "session.end":
            facts["outcome"] = data.get("reason")
            facts["resolution"] = data.get("resolution")
    return facts


def receipt_body(record: Mapping[str, Any], checkpoint: str) -> bytes:
    """The signed note's body: the format, the session, and the digest of the record and checkpoint."""
    digest = hashlib.sha256(canonicalize({"record": record, "checkpoint": checkpoint})).digest()
    session = str(record.get("session_id", ""))
    return f"{RECEIPT_FORMAT}\n{session}\n{base64.b64encode(digest).decode()}\n".encode()


@dataclass(slots=True)
class ReceiptReport:
    session_id: str | None = None
    signer: str | None = None
    steps: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.signer is not None

    def summary(self) -> str:
        if self.ok:
            return (
                f"OK: service receipt of session {self.session_id} is signed by {self.signer} and agrees "
                f"with {self.steps} step(s) in the signed audit log"
            )
        return f"FAILED: service receipt of session {self.session_id}: " + "; ".join(self.problems)


def _check_signature(note: str, body: bytes, trusted: NoteVerifier) -> str | None:
    try:
        signed_body, lines = split_note(note)
    except NoteError as exc:
        return f"signature: {exc}"
    if signed_body.encode() != body:
        return "the record does not match what the server signed (changed after signing)"
    for line in lines:
        name, _, encoded = line.removeprefix(_SIG_PREFIX).partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            return "signature: malformed signature line"
        if name == trusted.name and raw[:4] == trusted.key_hash:
            return None if trusted.verify(body, raw[4:]) else "signature does not verify"
    return f"not signed by the trusted key {trusted}"


def verify_receipt(text: str, trusted_key: NoteVerifier | str) -> ReceiptReport:
    """Check a receipt offline against the audit key the caller trusts."""
    report = ReceiptReport()
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != RECEIPT_FORMAT:
            raise ValueError(f"not an {RECEIPT_FORMAT} document")
        record, signature = document["record"], document["signature"]
        if not isinstance(record, dict) or not isinstance(signature, str):
            raise ValueError("record or signature missing")
        export = SessionAuditExport.from_json(json.dumps(document["audit"]))
        trusted = trusted_key if isinstance(trusted_key, NoteVerifier) else NoteVerifier.parse(trusted_key)
    except (ValueError, KeyError, TypeError, ExportFormatError, NoteError) as exc:
        report.problems.append(f"malformed receipt: {exc}")
        return report
    report.session_id = str(record.get("session_id"))
    problem = _check_signature(signature, receipt_body(record, export.checkpoint), trusted)
    if problem:
        report.problems.append(problem)
    else:
        report.signer = str(trusted)
    audit = verify_export(export, trusted)
    report.problems.extend(f"audit: {p}" for p in audit.problems)
    if export.session_id != record.get("session_id"):
        report.problems.append("the audit export is of another session")
    events = [event.document() for event in export.events]
    if steps_from_events(events) != record.get("steps"):
        report.problems.append("the steps differ from the audit log's events")
    facts = facts_from_events(events)
    # A changed receipt may hold anything here: it must be reported as FAILED, never crash the check.
    engineer = record.get("engineer") or {}
    item = record.get("service_item") or {}
    for what, value in (("engineer", engineer), ("service item", item)):
        if not isinstance(value, dict):
            report.problems.append(f"the {what} is not an object")
    engineer = engineer if isinstance(engineer, dict) else {}
    item = item if isinstance(item, dict) else {}
    checks = {
        "engineer": (engineer.get("id"), facts["engineer_id"]),
        "service item": (item.get("code"), facts["service_item"]),
        "outcome": (record.get("outcome"), facts["outcome"]),
        "resolution": (record.get("resolution"), facts["resolution"]),
    }
    if facts["outcome"] is None:  # the log holds no end event (a lost connection ended it quietly)
        del checks["outcome"], checks["resolution"]
    for what, (claimed, logged) in checks.items():
        if claimed != logged:
            report.problems.append(f"the {what} ({claimed!r}) is not the audit log's ({logged!r})")
    steps = record.get("steps")
    report.steps = len(steps) if isinstance(steps, list) else 0
    return report
