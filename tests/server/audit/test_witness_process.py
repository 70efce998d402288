"""A witness in its own process, the server's CLI in others: a rewritten history, re-signed with the
server's own key, is refused by the witness and caught by `verify-log`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.audit.setup import open_audit_log
from server.commands._common import AUDIT_LOG_NAME
from server.config import load_config
from server.db.engine import open_engine
from server.db.migrate import upgrade


def rme_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


async def record(config_path: Path, kinds: list[str]) -> None:
    config = load_config(config_path, env={})
    engine = open_engine(config.effective_database_url)
    try:
        await upgrade(engine)
        audit = open_audit_log(engine, config, AUDIT_LOG_NAME)
        for n, kind in enumerate(kinds):
            await audit.append(kind, "engineer:alice", "S-1", {"n": n})
    finally:
        await engine.dispose()


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[tuple[str, str, Path, Path]]:
    """(url, witness key, server config file, witness state dir) with a witness process running."""
    keys, state, data = tmp_path / "keys", tmp_path / "witness", tmp_path / "data"
    keys.mkdir(mode=0o700)
    config = tmp_path / "rme.toml"
    # The signing key lives outside the data directory.
    config.write_text(f'data_dir = "{data}"\naudit_signing_key_file = "{keys / "audit.key"}"\n')
    made = rme_server("audit", "key", "--config", str(config))
    assert made.returncode == 0, made.stderr
    log_key = made.stdout.strip().splitlines()[-1]
    assert not (data / "audit-signing.key").exists() and (keys / "audit.key").exists()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "audit", "witness", "--state-dir", str(state),
         "--name", "witness.test/w1", "--port", "0", "--log", log_key],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert "listening on" in first, first + second
        url, key = first.split()[-1], second.split()[-1]
        with config.open("a") as handle:
            handle.write(f'audit_witness_url = "{url}"\naudit_witness_key = "{key}"\n')
        yield url, key, config, state
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_rewritten_history_is_refused_by_the_witness_and_detected(
    witness: tuple[str, str, Path, Path], tmp_path: Path
) -> None:
    url, _key, config, state = witness
    asyncio.run(record(config, ["session.request", "session.consent", "action.result", "session.end"]))

    signed = rme_server("audit", "checkpoint", "--config", str(config))
    assert signed.returncode == 0, signed.stderr
    assert "\n— witness.test/w1 " in signed.stdout  # cosigned, and stored beside the checkpoint
    good = rme_server("audit", "verify-log", "--config", str(config))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "witness witness.test/w1 cosigned events 0–3" in good.stdout

    # The operator (holding the signing key) throws the database away and writes another history —
    # longer, every row and checkpoint re-signed with the same key.
    (tmp_path / "data" / "rme.db").rename(tmp_path / "old.db")
    for suffix in ("-wal", "-shm"):
        (tmp_path / "data" / f"rme.db{suffix}").unlink(missing_ok=True)
    asyncio.run(record(config, ["session.request", "session.note", "session.end", "session.end", "x.y"]))
    resigned = rme_server("audit", "checkpoint", "--config", str(config))
    assert resigned.returncode == 0, resigned.stderr
    assert "witness.test/w1" not in resigned.stdout  # the witness would not cosign it
    refused = [json.loads(line) for line in (state / "refused.jsonl").read_text().splitlines()]
    assert refused and refused[-1]["note"].split("\n")[1] == "5"

    # Checked against the same key, every checkpoint in the new database is "valid"; the witness's
    # memory is not fooled.
    caught = rme_server("audit", "verify-log", "--config", str(config))
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert f"the first 4 events do not match the checkpoint witness at {url} holds" in caught.stdout
    assert "not cosigned by a trusted witness" in caught.stdout

    # Deleting history instead (a shorter log) is caught the same way.
    (tmp_path / "data" / "rme.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "data" / f"rme.db{suffix}").unlink(missing_ok=True)
    asyncio.run(record(config, ["session.request", "session.end"]))
    assert rme_server("audit", "checkpoint", "--config", str(config)).returncode == 0
    shortened = rme_server("audit", "verify-log", "--config", str(config))
    assert shortened.returncode == 1
    assert "covers 4 events but only 2 remain" in shortened.stdout
