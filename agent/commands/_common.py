"""What every `rme-agent` command shares: the common flags, and the config prologue.

`command_parser(subparsers, name, summary, handler)` adds a command with the common flags; its handler
is `handler(args, config, lang)`, wrapped by `configured`: that loads the settings from the flags
(`--server`, `--data-dir`, `--config`, `--lang`, and `--no-browser` where a command has it), prints a clear
error with exit status 2 when they are not valid, and picks the language.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, ConfigError, load_config
from agent.i18n import Lang, system_lang

ConfiguredHandler = Callable[[argparse.Namespace, AgentConfig, Lang], int]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """`--server`, `--data-dir`, `--config`, `--lang`: taken by every agent command."""
    parser.add_argument("--server", default=None, help="the RME server, e.g. wss://rme.example.net:8443")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the agent keeps its state")
    parser.add_argument("--config", type=Path, default=None, help="agent TOML config file")
    parser.add_argument("--lang", choices=["zh-CN", "en"], default=None)


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    """The settings with the flags on top; a flag a command does not have counts as not given."""
    overrides = {
        "server": getattr(args, "server", None),
        "data_dir": getattr(args, "data_dir", None),
        "lang": getattr(args, "lang", None),
        "open_browser": False if getattr(args, "no_browser", False) else None,
    }
    return load_config(getattr(args, "config", None), overrides=overrides)


def configured(handler: ConfiguredHandler) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        try:
            config = config_from_args(args)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        return handler(args, config, config.lang or system_lang())

    handle.__doc__ = handler.__doc__
    return handle


def command_parser(
    subparsers: Any, name: str, summary: str, handler: ConfiguredHandler, *, browser: bool = False
) -> argparse.ArgumentParser:
    """A command's parser with the common flags (and `--no-browser` for commands that open the panel)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=summary)
    add_common_arguments(parser)
    if browser:
        parser.add_argument("--no-browser", action="store_true", help="do not open the panel in a browser")
    parser.set_defaults(handler=configured(handler))
    return parser
