"""`rme-server`: the server's command line. Sub-commands live in `server.commands.*`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each name is a module in server/commands exposing `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = ("serve", "migrate", "user", "customer", "audit", "report", "billing")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; when `argv` names a command, only that command's module is imported, so a command
    starts without paying for every other command's imports."""
    parser = argparse.ArgumentParser(prog="rme-server", description="RME server — Remote Maintenance Expert")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    words = list(sys.argv[1:] if argv is None else argv)
    chosen = next((w for w in words if not w.startswith("-")), None)
    names = (chosen,) if chosen in COMMAND_MODULES else COMMAND_MODULES
    for name in names:
        module = importlib.import_module(f"server.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
