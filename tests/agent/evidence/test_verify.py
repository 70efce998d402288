"""The agent's own check of audit evidence agrees with the server's log, and catches every forgery."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agent.evidence.verify import verify_evidence
from server.audit import AuditLog, NoteSigner
from server.audit.cosign import CosignerKey
from server.audit.keeper import make_evidence


async def evidence_of(audit_log: AuditLog, witness: CosignerKey | None = None) -> dict[str, Any]:
    for n in range(6):
        await audit_log.append("session.request", "engineer:bob", f"S-{n % 2}", {"n": n})
    await audit_log.append("session.end", "device:d1", "S-1", {"reason": "resolved"})
    await audit_log.append("auth.login", "engineer:eve", None, {})
    message = await make_evidence(audit_log, "S-1")
    assert message is not None
    body = message.body.model_dump()
    if witness is not None:  # as the server stores and sends a witness's line
        body["checkpoint"] += witness.cosign(body["checkpoint"].partition("\n\n")[0] + "\n")
        body["witness_keys"] = [str(witness.verifier)]
    return body


async def test_real_evidence_verifies(audit_log: AuditLog, signer: NoteSigner) -> None:
    witness = CosignerKey.generate("w1")
    body = await evidence_of(audit_log, witness)
    report = verify_evidence(body, str(signer.verifier), body["witness_keys"])
    assert report.ok, report.problems
    assert (report.index, report.size, report.session, report.kind) == (6, 8, "S-1", "session.end")
    assert report.witnesses == ["w1"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: {**b, "leaf": b["leaf"].replace("resolved", "unresolved")}, "not in the signed log"),
        (lambda b: {**b, "index": b["index"] - 1}, "not in the signed log"),
        (lambda b: {**b, "proof": b["proof"][:-1]}, "too short"),
        (
            lambda b: {**b, "proof": [base64.b64encode(bytes(32)).decode(), *b["proof"][1:]]},
            "not in the signed",
        ),
        (lambda b: {**b, "checkpoint": b["checkpoint"].replace("\n8\n", "\n9\n", 1)}, "not signed by"),
        (lambda b: {**b, "checkpoint": b["checkpoint"].split("\n\n")[0] + "\n"}, "no signatures"),
        (lambda b: {**b, "leaf": "not json"}, "not in the signed log"),
    ],
    ids=["changed-event", "moved-event", "short-proof", "bad-proof", "changed-size", "unsigned", "garbage"],
)
async def test_forgeries_are_caught(
    audit_log: AuditLog, signer: NoteSigner, change: Any, problem: str
) -> None:
    body = change(await evidence_of(audit_log))
    report = verify_evidence(body, str(signer.verifier))
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems


async def test_another_key_or_a_forged_cosignature_fails(audit_log: AuditLog) -> None:
    witness = CosignerKey.generate("w1")
    body = await evidence_of(audit_log, witness)
    assert not verify_evidence(body, str(NoteSigner.generate("rme.test/audit").verifier)).ok
    impostor = CosignerKey.generate("w1")
    forged = {**body, "checkpoint": body["checkpoint"].rsplit("\u2014 w1 ", 1)[0]}
    forged["checkpoint"] += impostor.cosign(forged["checkpoint"].partition("\n\n")[0] + "\n")
    report = verify_evidence(forged, body["log_key"], body["witness_keys"])
    assert report.witnesses == []  # another key id: ignored, not counted
    assert verify_evidence(body, body["log_key"], ["not a key"]).problems
