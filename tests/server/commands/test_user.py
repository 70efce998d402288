"""`rme-server user …` and `migrate`, run through the real CLI entry point on both databases."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from server.accounts import engineers as accounts
from server.accounts.engineers import LoginFailure
from server.cli import main
from server.db.engine import open_engine


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(list(args)) == 0
    return capsys.readouterr().out


def check_login(url: str, username: str, password: str) -> object:
    async def go() -> object:
        engine = open_engine(url)
        try:
            return await accounts.authenticate(engine, username, password, None)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_user_lifecycle(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = ["--data-dir", str(tmp_path), "--database-url", database_url]
    assert "revision" in run(capsys, monkeypatch, "migrate", *where)
    out = run(capsys, monkeypatch, "user", "add", "wang", "--role", "supervisor", "--password-stdin", *where,
              stdin="first password\n")  # fmt: skip
    assert "created supervisor wang" in out
    assert isinstance(check_login(database_url, "wang", "first password"), accounts.Engineer)
    run(capsys, monkeypatch, "user", "passwd", "wang", "--password-stdin", *where, stdin="second password\n")
    assert check_login(database_url, "wang", "first password") is LoginFailure.BAD_CREDENTIALS
    run(capsys, monkeypatch, "user", "disable", "wang", *where)
    assert check_login(database_url, "wang", "second password") is LoginFailure.DISABLED
    assert "disabled" in run(capsys, monkeypatch, "user", "list", *where)
    run(capsys, monkeypatch, "user", "enable", "wang", *where)
    assert isinstance(check_login(database_url, "wang", "second password"), accounts.Engineer)
    # Mistakes are reported, not raised.
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "li", "--password-stdin", *where]) == 1
    assert main(["user", "disable", "nobody", *where]) == 1
    assert "at least" in capsys.readouterr().err
