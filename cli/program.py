"""A program whose sub-commands are modules, imported only when chosen.

Each command is a module `<package>.<name>` exposing `register(subparsers)`, which adds its parser and sets
`handler=` to a function taking the parsed `argparse.Namespace` and returning the exit status. `--help`
and a bare program name list the commands from `Program.commands` (name → one-line summary) without
importing any of them: a command's imports (SQLAlchemy, pydantic, the diagnosis stack) cost seconds on a
loaded machine, and nobody asking for the list should pay for them. A test checks the summaries against
what each module registers, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Program:
    prog: str
    description: str
    package: str  # e.g. "agent.commands"
    commands: Mapping[str, str]  # name → the summary `--help` shows

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")

    def chosen(self, argv: Sequence[str]) -> str | None:
        """The command `argv` names (the first word that is not an option), if it is one of ours."""
        word = next((w for w in argv if not w.startswith("-")), None)
        return word if word in self.commands else None

    def build_parser(self, argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
        """The parser; only the chosen command's module is imported, the others are listed by name."""
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
        chosen = self.chosen(list(sys.argv[1:] if argv is None else argv))
        for name, summary in self.commands.items():
            if name == chosen:
                self.module(name).register(subparsers)
            else:
                subparsers.add_parser(name, help=summary, add_help=False)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        parser = self.build_parser(argv)
        args = parser.parse_args(argv)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 2
        code: int = handler(args)
        return code
