"""`rme-server customer …`: customers, subscriptions, enrollment codes, devices, revocation."""

from __future__ import annotations

import asyncio
import io
import os
import re
from pathlib import Path

import pytest

from server.cli import main
from server.db.engine import open_engine
from server.devices import store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out.strip()


def test_customer_code_device_revoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}"
    where = ["--data-dir", str(tmp_path), "--database-url", url]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    customer_id = run(capsys, "customer", "add", "李四", "--ref", "BSS-42", *where)
    assert customer_id.startswith("c_")
    run(capsys, "customer", "subscription", customer_id, "suspended", *where)
    assert "suspended" in run(capsys, "customer", "list", *where)
    code = run(capsys, "customer", "enroll-code", customer_id, "--ttl", "60", *where)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)

    async def enroll() -> store.Device:
        engine = open_engine(url)
        try:
            return await store.enroll_device(engine, code, os.urandom(32), "PC")
        finally:
            await engine.dispose()

    device = asyncio.run(enroll())
    assert device.id in run(capsys, "customer", "devices", customer_id, *where)
    run(capsys, "customer", "revoke", device.id, *where)
    assert "revoked" in run(capsys, "customer", "devices", customer_id, *where)
    assert main(["customer", "revoke", device.id, *where]) == 1  # already revoked
    assert main(["customer", "enroll-code", "c_missing", *where]) == 1
