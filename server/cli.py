"""`rme-server`: the server's command line. Sub-commands live in `server.commands.*` (see `cli.Program`)."""

from __future__ import annotations

import sys

from cli import Program

PROGRAM = Program(
    prog="rme-server",
    description="RME server — Remote Maintenance Expert",
    package="server.commands",
    commands={
        "serve": "run the server",
        "migrate": "apply database migrations",
        "user": "manage engineer accounts",
        "customer": "manage customers and devices",
        "audit": "audit log: export, verify, checkpoint",
        "report": "service reports",
        "billing": "billing hooks and the catalogue",
        "rescue": "rescue boot images: build the ISO, issue one to a customer",
    },
)


main = PROGRAM.main  # the console-script entry point


if __name__ == "__main__":
    sys.exit(main())
