"""`rme-server customer …`: customers, subscriptions, enrollment codes, devices, revocation."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
from pathlib import Path

import pytest

from protocol.auth import b64url
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


def test_customer_import_codes_and_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}"
    where = ["--data-dir", str(tmp_path), "--database-url", url]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    key = b64url(os.urandom(32))
    source = tmp_path / "in.csv"
    source.write_text(
        f"name,ref,subscription,public_key\n张三,BSS-1,,\nBob,BSS-2,suspended,\nFactory PC,BSS-3,,{key}\n"
    )
    out = tmp_path / "out.csv"
    run(capsys, "customer", "import", str(source), "--out", str(out), *where)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    rows = list(csv.DictReader(out.open()))
    assert [r["ref"] for r in rows] == ["BSS-1", "BSS-2", "BSS-3"]
    assert rows[0]["code"] and rows[1]["code"] and not rows[2]["code"]
    assert rows[2]["device_id"].startswith("d_")
    listing = run(capsys, "customer", "list", *where)
    assert "张三" in listing and "suspended\tBob" in listing

    async def check() -> None:
        engine = open_engine(url)
        try:
            device = await store.enroll_device(engine, rows[0]["code"], os.urandom(32), "PC")
            assert device.customer_id == rows[0]["customer_id"]
            registered = await store.get_device(engine, rows[2]["device_id"])
            assert registered is not None and b64url(registered.public_key) == key
        finally:
            await engine.dispose()

    asyncio.run(check())
    # The same key again: refused as a whole, nothing half-imported.
    before = run(capsys, "customer", "list", *where).count("\n")
    assert main(["customer", "import", str(source), *where]) == 1
    assert "already enrolled" in capsys.readouterr().err
    assert run(capsys, "customer", "list", *where).count("\n") == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ref\nx\n", "'name' needed"),
        ("name,colour\nA,red\n", "unknown columns: colour"),
        ("name,subscription\nA,gold\n", "line 2: subscription"),
        ("name,public_key\nA,abc\n", "line 2: public_key"),
        ("name\n", "no rows"),
    ],
)
def test_customer_import_refuses_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(text)
    url = f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}"
    assert main(["customer", "import", str(source), "--data-dir", str(tmp_path), "--database-url", url]) == 1
    assert message in capsys.readouterr().err
