"""`rme-agent help "my internet is down"`: diagnose, call an expert, show the queue position.

Beside a running agent (`rme-agent run`) the request goes through it; otherwise this command becomes the
agent, in the foreground, so the engineer who answers finds it there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

import httpx

from agent.app import AgentRuntime
from agent.commands._common import command_parser
from agent.commands.run import run_agent
from agent.config import AgentConfig
from agent.i18n import Lang, Text
from agent.panel.control import NoAgent, call, running_agent

T_SENT = Text("已呼叫专家，等待排队位置 …", "Expert called; waiting for the queue position …")
T_QUEUED = Text(
    "排队中：前面还有 {position} 位。工程师马上就来，请保持本窗口打开。",
    "In the queue: {position} ahead of you. An engineer is coming; keep this window open.",
)
T_REFUSED = Text("求助未被受理：{reason}", "The help request was refused: {reason}")
T_NO_ANSWER = Text(
    "服务器还没有回答；求助会在连接后送达。",
    "No answer from the server yet; the request will go when connected.",
)


def register(subparsers: Any) -> None:
    parser = command_parser(subparsers, "help", "diagnose and call an expert", handle, browser=True)
    parser.add_argument("words", nargs="?", default="", help="what is wrong, in your own words")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the queue position")


def _print_status(help_status: dict[str, Any], lang: Lang) -> bool:
    if help_status.get("state") == "queued":
        print(T_QUEUED.render(lang, position=help_status.get("position")), flush=True)
        return True
    if help_status.get("state") == "refused":
        print(T_REFUSED.render(lang, reason=help_status.get("reason")), flush=True)
        return True
    return False


def _through_running_agent(args: argparse.Namespace, lang: Lang) -> int:
    info = running_agent(args.data_dir_resolved)
    call(args.data_dir_resolved, "/api/help", {"words": args.words}, timeout=30.0)
    print(T_SENT.render(lang), flush=True)
    deadline = time.monotonic() + args.wait
    headers = {"Authorization": f"Bearer {info.secret}"}
    version = -1
    with httpx.Client(base_url=info.base, timeout=20.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            state = client.get(f"/api/state?since={version}", headers=headers).json()
            version = state["version"]
            if _print_status(state["help"], lang):
                return 0 if state["help"]["state"] == "queued" else 1
    print(T_NO_ANSWER.render(lang))
    return 1


async def _foreground(runtime: AgentRuntime, words: str) -> None:
    async def report() -> None:
        assert runtime.client is not None
        while True:
            await runtime.client.help.changed.wait()
            _print_status(runtime.client.help.to_json(), runtime.lang)

    printer = asyncio.ensure_future(report()) if runtime.client else None
    print(T_SENT.render(runtime.lang), flush=True)
    try:
        await run_agent(runtime, help_words=words)
    finally:
        if printer is not None:
            printer.cancel()


def handle(args: argparse.Namespace, config: AgentConfig, lang: Lang) -> int:
    args.data_dir_resolved = config.data_dir
    with contextlib.suppress(NoAgent):
        return _through_running_agent(args, lang)
    runtime = AgentRuntime(config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_foreground(runtime, args.words))
    return 0
