"""The user keeps each session's evidence privately (0600 in a 0700 folder), pins the log key, and
`rme-agent evidence` checks it all offline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from agent.evidence import evidence_files, keep_evidence, pinned_key, recheck
from server.audit import AuditLog, NoteSigner
from server.audit.keeper import make_evidence


def rme_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


async def evidence(audit_log: AuditLog, session: str) -> dict[str, object]:
    await audit_log.append("session.end", "device:d1", session, {"reason": "ended_by_user"})
    message = await make_evidence(audit_log, session)
    assert message is not None
    return message.body.model_dump()


async def test_kept_private_checked_and_listed(
    audit_log: AuditLog, signer: NoteSigner, tmp_path: Path
) -> None:
    data = tmp_path / "agent"
    path = keep_evidence(data, "S-1", await evidence(audit_log, "S-1"))
    assert path is not None and path.parent == data / "evidence"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert pinned_key(data) == str(signer.verifier)
    document = json.loads(path.read_text())
    assert document["checked_on_arrival"]["ok"] and not document["key_changed"]
    _, report = recheck(path)
    assert report.ok

    listed = await asyncio.to_thread(rme_agent, "evidence", "--data-dir", str(data), "--lang", "en", "--json")
    assert listed.returncode == 0, listed.stderr
    result = json.loads(listed.stdout)
    assert [item["ok"] for item in result["evidence"]] == [True]

    # Someone edits the kept file (or the server later shows a different history): it no longer verifies.
    document["evidence"]["leaf"] = document["evidence"]["leaf"].replace("ended_by_user", "resolved")
    path.write_text(json.dumps(document))
    failed = await asyncio.to_thread(rme_agent, "evidence", "--data-dir", str(data), "--lang", "en")
    assert failed.returncode == 1
    assert "not proven" in failed.stdout


async def test_a_changed_server_key_is_flagged(
    audit_log: AuditLog, audit_engine: AsyncEngine, tmp_path: Path
) -> None:
    data = tmp_path / "agent"
    keep_evidence(data, "S-1", await evidence(audit_log, "S-1"))
    other = AuditLog(audit_engine, NoteSigner.generate("rme.test/audit"))
    path = keep_evidence(data, "S-2", await evidence(other, "S-2"))
    assert path is not None
    document = json.loads(path.read_text())
    assert document["key_changed"] and not document["checked_on_arrival"]["ok"]
    assert len(evidence_files(data)) == 2


def test_garbage_is_not_fatal(tmp_path: Path) -> None:
    path = keep_evidence(tmp_path, "S-x", {"log_key": "nonsense", "index": "x"})
    assert path is not None and not json.loads(path.read_text())["checked_on_arrival"]["ok"]
    (tmp_path / "a-file").write_text("x")
    assert keep_evidence(tmp_path / "a-file", "S", {}) is None  # cannot be written: None, no exception
