"""`rme-agent diagnose`: find why the internet does not work, in plain words; `--fix` offers repairs.

    rme-agent diagnose [--json] [--interface NAME] [--lang zh-CN|en]
                       [--check-url URL --check-expect TEXT] [--reference-dns IP]...
                       [--probe-tcp HOST:PORT]... [--known-name NAME]... [--config FILE]
                       [--data-dir DIR] [--fix] [--save-facts FILE] [--replay FILE]

`--config` and `--data-dir` are the agent's: the `[diagnosis]` and `[repairs]` tables come from the same
file `rme-agent run` would read, and repairs keep their undo records in the data directory.

`--json` prints exactly one `protocol.report.DiagnosisReport` on stdout (after `--fix`, the final one;
prompts then go to stderr). Exit status: 0 ok, 1 degraded, 3 offline, 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diagnose",
        help="find why the internet does not work (and offer repairs with --fix)",
        description="Diagnose the network: adapter, link, IP, gateway, DNS, internet.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON report (the BRIEF §4 contract)")
    parser.add_argument(
        "--interface", metavar="NAME", help="the adapter to diagnose (default: the default route's)"
    )
    parser.add_argument(
        "--lang", choices=["zh-CN", "en"], help="language of the words (default: system locale)"
    )
    parser.add_argument("--check-url", metavar="URL", help="plain-HTTP connectivity check URL")
    parser.add_argument("--check-expect", metavar="TEXT", help="text the check URL's body must contain")
    parser.add_argument(
        "--reference-dns", metavar="IP", action="append", help="reference resolver (repeatable)"
    )
    parser.add_argument(
        "--probe-tcp",
        metavar="HOST:PORT",
        action="append",
        help="test the internet by IP with a TCP connection (repeatable)",
    )
    parser.add_argument(
        "--known-name",
        metavar="NAME",
        action="append",
        help="a name whose answer must agree with the reference resolver (repeatable)",
    )
    parser.add_argument("--config", metavar="FILE", type=Path, help="agent config (TOML, [diagnosis] table)")
    parser.add_argument(
        "--data-dir", metavar="DIR", type=Path, help="the agent's data directory (agent.toml, repair state)"
    )
    parser.add_argument("--fix", action="store_true", help="offer the repairs, asking before each one")
    parser.add_argument("--save-facts", metavar="FILE", type=Path, help="also write the raw facts as JSON")
    parser.add_argument("--replay", metavar="FILE", type=Path, help="judge recorded facts instead of probing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top, so `rme-agent diagnose --help` does not load the diagnosis stack
    # (pydantic models, dnspython).
    from agent.commands._common import config_from_args  # noqa: PLC0415
    from agent.commands.diagnose_flow import run as run_diagnosis  # noqa: PLC0415
    from agent.config import ConfigError  # noqa: PLC0415

    # The agent's own settings search (flags, `RME_*`, agent.toml): the diagnosis then reads the same
    # file, data directory and language `rme-agent run` would.
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"rme-agent diagnose: {exc}", file=sys.stderr)
        return 2
    args.config, args.data_dir, args.lang = config.config_file, config.data_dir, config.lang
    return run_diagnosis(args)
