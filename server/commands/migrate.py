"""`rme-server migrate`: bring the database schema to the newest revision (also done by `serve`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from server.commands._common import add_config_args, config_from_args
from server.config import ConfigError
from server.db.engine import open_engine
from server.db.migrate import current_revisions, upgrade


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("migrate", help="apply database migrations")
    add_config_args(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2

    async def main() -> set[str]:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        engine = open_engine(config.effective_database_url)
        try:
            await upgrade(engine)
            return await current_revisions(engine)
        finally:
            await engine.dispose()

    revisions = asyncio.run(main())
    print(f"database at revision {', '.join(sorted(revisions))}")
    return 0
