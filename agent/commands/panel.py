"""`rme-agent panel`: open the running agent's panel in the default browser (a one-time login link)."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any

import httpx

from agent.commands._common import command_parser
from agent.config import AgentConfig
from agent.i18n import Lang, Text
from agent.panel.control import NoAgent, call

T_NO_AGENT = Text(
    "没有正在运行的 RME 代理；请先运行 “rme-agent run”",
    "No RME agent is running; start it with “rme-agent run”",
)


def register(subparsers: Any) -> None:
    parser = command_parser(subparsers, "panel", "open the user panel in the browser", handle)
    parser.add_argument(
        "--print-url", action="store_true", help="print the one-time link instead of opening it"
    )


def handle(args: argparse.Namespace, config: AgentConfig, lang: Lang) -> int:
    try:
        url = str(call(config.data_dir, "/api/launch")["url"])
    except (NoAgent, httpx.HTTPError):
        print(T_NO_AGENT.render(lang), file=sys.stderr)
        return 3
    if args.print_url or not webbrowser.open(url):
        print(url)
    return 0
