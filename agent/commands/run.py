"""`rme-agent run`: the agent in the foreground — connection, session guard, panel — until stopped.

Ctrl-C, SIGTERM (and closing the console window, which sends SIGHUP or CTRL_CLOSE_EVENT) run the
kill switch before the agent exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from agent.app import AgentRuntime
from agent.commands._common import command_parser
from agent.config import AgentConfig
from agent.i18n import Lang, Text

T_RUNNING = Text(
    "RME 代理正在运行。面板：{url}\n按 Ctrl-C 结束（会先结束任何会话）。",
    "The RME agent is running. Panel: {url}\nPress Ctrl-C to stop (any session is ended first).",
)
T_NO_SERVER = Text(
    "没有配置服务器（--server 或 RME_SERVER）：只在本机运行",
    "No server configured (--server or RME_SERVER): running locally only",
)


def register(subparsers: Any) -> None:
    command_parser(subparsers, "run", "run the agent in the foreground", handle, browser=True)


def install_stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    for name in names:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


async def run_agent(runtime: AgentRuntime, help_words: str | None = None, announce: bool = True) -> None:
    install_stop_signals(asyncio.get_running_loop(), runtime.stop)
    task = asyncio.ensure_future(runtime.run(help_words))
    ready = asyncio.ensure_future(runtime.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if announce and not task.done():
        print(T_RUNNING.render(runtime.lang, url=runtime.panel.login_url()), flush=True)
    await task


def handle(args: argparse.Namespace, config: AgentConfig, lang: Lang) -> int:
    runtime = AgentRuntime(config)
    if config.server is None:
        print(T_NO_SERVER.render(lang), file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_agent(runtime))
    return 0
