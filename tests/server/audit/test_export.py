"""Session exports verify offline; any changed, dropped or reordered event, or bad signature, fails."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from server.audit import AuditLog, NoteSigner, SessionAuditExport, verify_export
from server.audit.export import ExportedEvent
from server.audit.export_html import render_export_html
from server.audit.note import Checkpoint

Tamper = Callable[[SessionAuditExport], SessionAuditExport]


async def make_export(audit_log: AuditLog) -> SessionAuditExport:
    for n in range(6):
        await audit_log.append("session.request", "engineer:alice", "s-1", {"n": n, "command": "ipconfig"})
        await audit_log.append("session.request", "engineer:bob", "s-2", {"n": n})
    await audit_log.append("session.ended", "user", "s-1", {"reason": "ended_by_user"})
    return await audit_log.export_session("s-1")


def edit_leaf(event: ExportedEvent, **changes: Any) -> ExportedEvent:
    document = json.loads(event.leaf)
    document.update(changes)
    return replace(event, leaf=json.dumps(document, separators=(",", ":"), sort_keys=True))


def changed(export: SessionAuditExport) -> SessionAuditExport:
    events = list(export.events)
    events[2] = edit_leaf(events[2], data={"n": 2, "command": "format c:"})
    return replace(export, events=events)


def dropped(export: SessionAuditExport) -> SessionAuditExport:
    events = export.events[:3] + export.events[4:]
    return replace(export, events=events, indexes=[e.index for e in events])


def dropped_event_only(export: SessionAuditExport) -> SessionAuditExport:
    return replace(export, events=export.events[:3] + export.events[4:])


def dropped_first(export: SessionAuditExport) -> SessionAuditExport:
    events = export.events[1:]
    return replace(export, events=events, indexes=[e.index for e in events])


def reordered(export: SessionAuditExport) -> SessionAuditExport:
    events = list(export.events)
    events[1], events[2] = events[2], events[1]
    return replace(export, events=events, indexes=[e.index for e in events])


def relabelled(export: SessionAuditExport) -> SessionAuditExport:
    # Swap the claimed positions as well: the proofs no longer fit the leaves.
    events = list(export.events)
    a, b = events[1], events[2]
    events[1], events[2] = replace(b, index=a.index), replace(a, index=b.index)
    return replace(export, events=events, indexes=[e.index for e in events])


def other_session(export: SessionAuditExport) -> SessionAuditExport:
    return replace(export, session_id="s-2")


def forged_signature(export: SessionAuditExport) -> SessionAuditExport:
    body, _, line = export.checkpoint.partition("\n\n")
    raw = bytearray(base64.b64decode(line.rstrip("\n").split(" ")[-1]))
    raw[-1] ^= 0x40
    return replace(
        export,
        checkpoint=f"{body}\n\n{line.split(' ')[0]} {line.split(' ')[1]} "
        f"{base64.b64encode(bytes(raw)).decode()}\n",
    )


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (changed, "not in the signed log"),
        (dropped, "session chain broken"),
        (dropped_event_only, "does not match the events"),
        (dropped_first, "session chain broken"),
        (reordered, "strictly increasing"),
        (relabelled, "not in the signed log"),
        (other_session, "belongs to session"),
        (forged_signature, "does not verify"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
async def test_tampered_exports_fail(audit_log: AuditLog, tamper: Tamper, expected: str) -> None:
    export = await make_export(audit_log)
    assert verify_export(export, audit_log.verifier_key).ok
    report = verify_export(tamper(export), audit_log.verifier_key)
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems


async def test_export_round_trips_through_json_and_verifies(audit_log: AuditLog) -> None:
    export = await make_export(audit_log)
    assert len(export.events) == 7 and export.indexes == [0, 2, 4, 6, 8, 10, 12]
    again = SessionAuditExport.from_json(export.to_json())
    report = verify_export(again, audit_log.verifier_key)
    assert report.ok, report.problems
    assert report.events_checked == 7 and report.tree_size == 13


async def test_wrong_key_and_a_resigned_checkpoint_are_rejected(audit_log: AuditLog) -> None:
    export = await make_export(audit_log)
    stranger = NoteSigner.generate(audit_log.origin)
    assert "not signed by the trusted key" in verify_export(export, stranger.verifier).problems[0]
    # An insider re-signs a checkpoint over a doctored tree with their own key: the operator's key rejects it.
    forged = Checkpoint(audit_log.origin, 13, b"\x11" * 32).sign(stranger)
    report = verify_export(
        replace(export, checkpoint=forged.note, verifier_key=str(stranger.verifier)), audit_log.verifier_key
    )
    assert not report.ok


async def test_html_page_shows_events_in_both_languages(audit_log: AuditLog) -> None:
    export = await make_export(audit_log)
    page = render_export_html(export, verify_export(export, audit_log.verifier_key))
    assert "已验证" in page and "Verified" in page
    assert page.count("<tr>") == 8  # header + 7 events
    assert "ipconfig" in page and "ended_by_user" in page
    bad = changed(export)
    assert "Verification FAILED" in render_export_html(bad, verify_export(bad, audit_log.verifier_key))
