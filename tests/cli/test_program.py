"""`cli.Program`: `--help` lists every command without importing one; a chosen command imports only itself."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from agent.cli import PROGRAM as AGENT
from cli import Program
from server.cli import PROGRAM as SERVER

# What the command list must not cost: the heavy stacks behind the commands.
HEAVY = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "pydantic", "dns", "cryptography", "httpx", "argon2")


def _loaded_after(module: str, *argv: str) -> tuple[set[str], str]:
    """Run `python -m <module> <argv>` and report which modules were imported by the end, and stdout."""
    code = (
        "import atexit, json, sys, runpy\n"
        "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n'))\n"
        f"sys.argv = [{module!r}, *{list(argv)!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__')\n"
    )
    env = {**os.environ, "COLUMNS": "300"}  # one line per command in the help
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES "))), done.stdout


@pytest.mark.parametrize(("module", "program"), [("agent.cli", AGENT), ("server.cli", SERVER)])
def test_help_lists_every_command_and_imports_none(module: str, program: Program) -> None:
    loaded, out = _loaded_after(module, "--help")
    for name, summary in program.commands.items():
        assert name in out and summary in out
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    commands = sorted(m for m in loaded if m.startswith(program.package + "."))
    assert heavy == [] and commands == []


def test_a_chosen_command_imports_only_itself() -> None:
    loaded, out = _loaded_after("server.cli", "migrate", "--help")
    assert "--database-url" in out
    assert sorted(m for m in loaded if m.startswith("server.commands.")) == [
        "server.commands._common",
        "server.commands.migrate",
    ]


@pytest.mark.parametrize("program", [AGENT, SERVER])
def test_the_listed_summaries_are_the_commands_own(program: Program) -> None:
    """The list `--help` shows without importing must say what each command's module says itself."""
    for name, summary in program.commands.items():
        subparsers = argparse.ArgumentParser().add_subparsers()
        program.module(name).register(subparsers)
        helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
        assert helps == {name: summary}


def test_no_command_prints_the_list_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert AGENT.main([]) == 2
    assert "privacy vault" in capsys.readouterr().out
