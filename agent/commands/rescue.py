"""`rme-agent rescue boot`: the rescue live system's agent and screen (see `agent.rescue.boot`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.commands._common import add_common_arguments


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rescue", help="rescue mode (the rescue live system)"
    )
    actions = parser.add_subparsers(dest="rescue_action", metavar="ACTION", required=True)
    boot = actions.add_parser("boot", help="run the rescue screen and agent (started by the rescue system)")
    add_common_arguments(boot)
    boot.add_argument("--tty", type=Path, action="append", default=[], help="a terminal to draw on (repeat)")
    boot.add_argument("--slot", type=Path, default=None, help="the provisioning slot file")
    boot.add_argument("--public-key", type=Path, default=None, help="the server's rescue public key (hex)")
    boot.set_defaults(handler=_boot)


def _boot(args: argparse.Namespace) -> int:
    from agent.rescue import boot  # noqa: PLC0415

    return boot.main(
        args.tty or [Path("/dev/tty")],
        slot=args.slot or boot.SLOT,
        public_key=args.public_key or boot.PUBLIC_KEY,
        data_dir=args.data_dir or boot.DATA_DIR,
    )
