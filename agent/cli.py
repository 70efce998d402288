"""`rme-agent`: the agent's command line. Sub-commands live in `agent.commands.*` (see `cli.Program`)."""

from __future__ import annotations

import sys

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


main = PROGRAM.main  # the console-script entry point


if __name__ == "__main__":
    sys.exit(main())
