"""`rme-agent end`: the kill switch from a terminal — tells the running agent to end the session now."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from agent.commands._common import command_parser
from agent.config import AgentConfig
from agent.i18n import Lang, Text
from agent.panel.control import NoAgent, call

T_ENDED = Text(
    "会话已结束：拒绝 {refused} 个请求，终止 {killed} 个进程，"
    "删除 {files} 个未完成的文件（{elapsed_ms} 毫秒）",
    "Session ended: {refused} requests refused, {killed} processes stopped, {files} unfinished files "
    "deleted ({elapsed_ms} ms)",
)
T_NONE = Text("没有进行中的会话", "No session to end")
T_NO_AGENT = Text("没有正在运行的 RME 代理", "No RME agent is running")


def register(subparsers: Any) -> None:
    command_parser(subparsers, "end", "end the engineer session now (the kill switch)", handle)


def handle(args: argparse.Namespace, config: AgentConfig, lang: Lang) -> int:
    try:
        result = call(config.data_dir, "/api/end", timeout=5.0)
    except (NoAgent, httpx.HTTPError):
        print(T_NO_AGENT.render(lang), file=sys.stderr)
        return 3
    if not result.get("ended"):
        print(T_NONE.render(lang))
        return 1
    print(T_ENDED.render(lang, **{k: result[k] for k in ("refused", "killed", "files", "elapsed_ms")}))
    return 0
