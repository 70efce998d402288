"""`rme-server audit …` end to end on a real data directory and database (both kinds)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.evidence import keep_evidence
from server.audit import AuditLog, NoteSigner
from server.audit.keeper import make_evidence
from server.cli import main
from server.commands._common import AUDIT_LOG_NAME
from server.db.engine import open_engine
from server.db.migrate import upgrade


async def record_a_session(database_url: str, data_dir: Path) -> None:
    engine = open_engine(database_url)
    try:
        await upgrade(engine)
        log = AuditLog(engine, NoteSigner.load_or_create(data_dir, AUDIT_LOG_NAME))
        await log.append("session.started", "engineer:alice", "S-42", {"ticket": "T-1"})
        await log.append(
            "session.request", "engineer:alice", "S-42", {"action": "command", "argv": ["ipconfig"]}
        )
        await log.append("session.request", "engineer:bob", "S-7", {"action": "diagnose"})
        await log.append("session.consent", "user", "S-42", {"allowed": True})
        await log.append("session.ended", "user", "S-42", {"reason": "ended_by_user"})
    finally:
        await engine.dispose()


def test_export_then_verify_offline_and_detect_tampering(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, out = tmp_path / "data", tmp_path / "out"
    asyncio.run(record_a_session(database_url, data_dir))
    config = ["--data-dir", str(data_dir), "--database-url", database_url]

    assert main(["audit", "export", "S-42", "--out", str(out), *config]) == 0
    assert main(["audit", "key", *config]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    exported = out / "S-42.json"
    assert json.loads(exported.read_text())["indexes"] == [0, 1, 3, 4]
    assert "ipconfig" in (out / "S-42.html").read_text()

    # Offline, in a separate process, with only the file and the published key.
    verified = subprocess.run(
        [sys.executable, "-m", "server.cli", "audit", "verify", str(exported), "--key", key],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK: 4 events of session S-42")

    document = json.loads(exported.read_text())
    document["events"][1]["leaf"] = document["events"][1]["leaf"].replace("ipconfig", "format c:")
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    assert main(["audit", "verify", str(tampered), "--key", key]) == 1
    assert "not in the signed log" in capsys.readouterr().out

    other_key = str(NoteSigner.generate(AUDIT_LOG_NAME).verifier)
    assert main(["audit", "verify", str(exported), "--key", other_key]) == 1
    assert "not signed by the trusted key" in capsys.readouterr().out

    # The export was itself audited, and the whole log still verifies.
    assert main(["audit", "verify-log", "--deep", *config]) == 0
    assert capsys.readouterr().out.startswith("OK: 6 events")


def test_export_of_an_unknown_session_fails(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    asyncio.run(record_a_session(database_url, data_dir))
    config = ["--data-dir", str(data_dir), "--database-url", database_url]
    assert main(["audit", "export", "nope", "--out", str(tmp_path / "out"), *config]) == 1


def test_verify_log_exits_non_zero_for_unproven_events_and_checks_a_users_evidence(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    asyncio.run(record_a_session(database_url, data_dir))
    config = ["--data-dir", str(data_dir), "--database-url", database_url]
    assert main(["audit", "verify-log", *config]) == 1  # no checkpoint yet: nothing is proven
    assert "no signed checkpoint: none of the 5 events is proven" in capsys.readouterr().out

    async def users_copy() -> None:  # what the agent was sent, and kept, at the session's end
        engine = open_engine(database_url)
        try:
            log = AuditLog(engine, NoteSigner.load_or_create(data_dir, AUDIT_LOG_NAME))
            message = await make_evidence(log, "S-42")
            assert message is not None
            assert keep_evidence(tmp_path / "agent", "S-42", message.body.model_dump()) is not None
        finally:
            await engine.dispose()

    asyncio.run(users_copy())
    (evidence,) = (tmp_path / "agent" / "evidence").glob("S-42-*.json")
    assert main(["audit", "verify-log", "--checkpoint", str(evidence), *config]) == 0
    assert capsys.readouterr().out.startswith("OK: 5 events")
    key = str(NoteSigner.load_or_create(data_dir, AUDIT_LOG_NAME).verifier)
    other = str(NoteSigner.generate(AUDIT_LOG_NAME).verifier)
    assert main(["audit", "verify-log", "--key", key, *config]) == 0
    assert main(["audit", "verify-log", "--key", other, *config]) == 1
    assert "not signed by the trusted key" in capsys.readouterr().out
