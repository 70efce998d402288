"""What every `rme-server` command shares: config flags, and an engine + audit log for admin commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog, AuditWriteError, JsonValue
from server.audit.setup import open_audit_log
from server.config import ConfigError, ServerConfig, load_config
from server.db.engine import open_engine
from server.db.revisions import is_current

T = TypeVar("T")
AUDIT_LOG_NAME = "rme-audit"


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (default: $RME_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data directory (database, TLS files, keys)")
    parser.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db")


def config_from_args(args: argparse.Namespace, **extra: object) -> ServerConfig:
    overrides = {"data_dir": args.data_dir, "database_url": args.database_url, **extra}
    return load_config(args.config, overrides=overrides)


@dataclass
class AdminContext:
    config: ServerConfig
    engine: AsyncEngine
    audit: AuditLog
    actor: str

    async def record(self, kind: str, data: dict[str, JsonValue]) -> None:
        await self.audit.append(kind, self.actor, None, data)


def run_admin(args: argparse.Namespace, work: Callable[[AdminContext], Awaitable[T]]) -> T:
    """Open the database (migrating it), run `work`, close. Admin actions are audited as `cli:<user>`."""
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        sys.exit(f"rme-server: {exc}")

    async def main() -> T:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        engine = open_engine(config.effective_database_url)
        try:
            if not await is_current(engine):
                # Alembic costs about a second to import: only when there is something to migrate.
                from server.db.migrate import upgrade  # noqa: PLC0415

                await upgrade(engine)
            audit = open_audit_log(engine, config, AUDIT_LOG_NAME)
            actor = f"cli:{os.environ.get('USER') or getpass.getuser()}"
            return await work(AdminContext(config, engine, audit, actor))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        sys.exit(f"rme-server: {exc}")
    except AuditWriteError as exc:
        sys.exit(f"rme-server: the audit log could not record this, so it was not done: {exc}")


def admin_command(
    args: argparse.Namespace,
    work: Callable[[AdminContext], Awaitable[T]],
    refused: type[Exception] | tuple[type[Exception], ...],
    done: Callable[[T], str],
) -> int:
    """`run_admin`, then print `done(result)` and exit 0; a `refused` error is printed and exits 1."""
    try:
        result = run_admin(args, work)
    except refused as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 1
    print(done(result))
    return 0


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        sys.exit("rme-server: passwords differ")
    return first
