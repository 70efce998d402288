"""Attached command outputs (`server.audit.outputs`): each must match the hash its signed event holds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from server.audit.export import ExportFormatError, SessionAuditExport
from server.audit.outputs import ExportedOutput, check_outputs

TEXT = "secret\n"
DIGEST = hashlib.sha256(TEXT.encode()).hexdigest()


def leaf(message: str, digest: str = DIGEST, size: int = len(TEXT)) -> str:
    outcome = {"kind": "command", "output_sha256": digest, "output_size": size}
    return json.dumps({"kind": "action.result", "data": {"message": message, "outcome": outcome}})


OUTPUT = ExportedOutput("m_1", "a_1", DIGEST, len(TEXT), TEXT)


def test_a_matching_output_passes() -> None:
    assert check_outputs([leaf("m_1"), "not json", json.dumps({"kind": "chat"})], [OUTPUT]) == []


@pytest.mark.parametrize(
    ("leaves", "output", "why"),
    [
        ([leaf("m_1")], replace(OUTPUT, text="other\n"), "does not match the SHA-256"),
        ([leaf("m_1", size=99)], OUTPUT, "does not match the SHA-256"),
        ([leaf("m_2")], OUTPUT, "no action.result event"),
        ([], OUTPUT, "no action.result event"),
        ([leaf("m_1")], replace(OUTPUT, sha256="0" * 64), "own hash"),
    ],
)
def test_every_mismatch_is_a_problem(leaves: list[str], output: ExportedOutput, why: str) -> None:
    (problem,) = check_outputs(leaves, [output])
    assert why in problem


def test_outputs_round_trip_through_the_export_file_and_malformed_ones_are_refused() -> None:
    document = {
        "format": "rme-audit-session-export/1", "session_id": "s_1", "origin": "o",
        "created_at": "2026-12-01T00:00:00+00:00", "verifier_key": "k", "checkpoint": "c", "indexes": [],
        "events": [], "outputs": [OUTPUT.document()],
    }  # fmt: skip
    export = SessionAuditExport.from_json(json.dumps(document))
    assert export.outputs == [OUTPUT]
    assert SessionAuditExport.from_json(export.to_json()).outputs == [OUTPUT]
    document["outputs"] = [{**OUTPUT.document(), "size": "7"}]
    with pytest.raises(ExportFormatError):
        SessionAuditExport.from_json(json.dumps(document))
    del document["outputs"]  # an export made before outputs were attached still reads
    assert SessionAuditExport.from_json(json.dumps(document)).outputs == []
