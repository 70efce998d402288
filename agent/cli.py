"""`rme-agent`: the agent's command line. Sub-commands live in `agent.commands.*` (see `cli.Program`).

Hidden sub-commands (not listed, not for people): parts of the agent that run as their own process and
must start from the single-file binary too, where there is no `python -m` (`sys.executable` is the
binary itself) — the on-screen indicator of the screen view, and the build's self-check of it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from cli import Program

PROGRAM = Program(
    prog="rme-agent",
    description="RME agent — Remote Maintenance Expert",
    package="agent.commands",
    commands={
        "vault": "privacy vault: encrypt and hide chosen folders",
        "diagnose": "find why the internet does not work (and offer repairs with --fix)",
        "run": "run the agent in the foreground",
        "help": "diagnose and call an expert",
        "end": "end the engineer session now (the kill switch)",
        "panel": "open the user panel in the browser",
        "enroll": "register this PC with the server using a one-time code",
        "evidence": "check the audit proofs kept from past sessions",
        "rescue": "rescue mode (the rescue live system)",
    },
)


HIDDEN = {
    "_screen-indicator": "agent.screen.indicator",  # NAME LANG: the window; see agent/screen/indicator.py
    "_screen-check": "agent.screen.selfcheck",  # this build can share the screen (tests/build)
}


def main(argv: Sequence[str] | None = None) -> int:
    """The console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in HIDDEN:
        code: int = importlib.import_module(HIDDEN[args[0]]).main(args[1:])
        return code
    return PROGRAM.main(argv)


if __name__ == "__main__":
    sys.exit(main())
