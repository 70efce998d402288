"""`rme-agent`: the agent's command line. Sub-commands live in `agent.commands.*`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each name is a module in agent/commands exposing `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = ("vault", "diagnose", "run", "help", "end", "panel", "enroll")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rme-agent", description="RME agent — Remote Maintenance Expert")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"agent.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
