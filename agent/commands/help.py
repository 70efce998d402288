"""`rme-agent help "my internet is down"`: diagnose, call an expert, show the queue position.

`--items` lists the service items the user may pick, each with its price or "included in your plan";
`--item CODE` picks one: its price is shown and the user confirms (`--yes` confirms without asking).

Beside a running agent (`rme-agent run`) the request goes through it; otherwise this command becomes the
agent, in the foreground, so the engineer who answers finds it there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

import httpx

from agent.app import AgentRuntime
from agent.commands._common import command_parser
from agent.commands.run import run_agent
from agent.config import AgentConfig
from agent.i18n import Lang, Text
from agent.panel.control import NoAgent, call, get, running_agent

T_SENT = Text("已呼叫专家，等待排队位置 …", "Expert called; waiting for the queue position …")
T_QUEUED = Text(
    "排队中：前面还有 {position} 位。工程师马上就来，请保持本窗口打开。",
    "In the queue: {position} ahead of you. An engineer is coming; keep this window open.",
)
T_REFUSED = Text("求助未被受理：{reason}", "The help request was refused: {reason}")
T_ITEMS_HEAD = Text("可选的服务项目：", "Service items you can pick:")
T_ITEMS_NONE = Text(
    "没有可选的服务项目（未启用计费）。", "There are no service items to pick (billing is off)."
)
T_ITEMS_OFFLINE = Text("无法连接服务器，读取不到服务项目。", "Cannot reach the server: no service items.")
T_ITEM_LINE = Text("  {code:<18} {name} — {price}", "  {code:<18} {name} — {price}")
T_ITEM_NOT = Text(
    "  {code:<18} {name} — 不可选（{reason}）", "  {code:<18} {name} — not available ({reason})"
)
T_ITEM_UNKNOWN = Text(
    "没有这个服务项目：{code}（用 --items 查看）", "No such service item: {code} (see --items)"
)
T_ITEM_REFUSED = Text("这个服务项目现在不能选：{reason}", "This service item cannot be picked now: {reason}")
T_CONFIRM = Text(
    "您选择了“{name}”，{price}。确认呼叫专家吗？[y/N] ",
    "You picked “{name}”, {price}. Call an expert? [y/N] ",
)
T_NOT_CONFIRMED = Text("已取消，没有呼叫专家。", "Cancelled: no expert was called.")
T_NO_ANSWER = Text(
    "服务器还没有回答；求助会在连接后送达。",
    "No answer from the server yet; the request will go when connected.",
)


def register(subparsers: Any) -> None:
    parser = command_parser(subparsers, "help", "diagnose and call an expert", handle, browser=True)
    parser.add_argument("words", nargs="?", default="", help="what is wrong, in your own words")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the queue position")
    parser.add_argument("--item", metavar="CODE", help="the service item you want (see --items)")
    parser.add_argument(
        "--items", action="store_true", help="list the service items and their prices, then exit"
    )
    parser.add_argument("--yes", action="store_true", help="confirm the item's price without asking")


def print_items(catalogue: dict[str, Any], lang: Lang) -> None:
    if catalogue.get("billing") is None:
        print(T_ITEMS_OFFLINE.render(lang))
        return
    if not catalogue.get("items"):
        print(T_ITEMS_NONE.render(lang))
        return
    print(T_ITEMS_HEAD.render(lang))
    for item in catalogue["items"]:
        template = T_ITEM_LINE if item["allowed"] else T_ITEM_NOT
        print(
            template.render(
                lang, code=item["code"], name=item["name"], price=item["price"], reason=item["reason"]
            )
        )


def confirm_item(catalogue: dict[str, Any], code: str, lang: Lang, yes: bool) -> bool:
    """Show the picked item's price and ask; False (said why) if it cannot be picked or is not confirmed."""
    item = next((i for i in catalogue.get("items", []) if i["code"] == code), None)
    if item is None:
        print(T_ITEM_UNKNOWN.render(lang, code=code), file=sys.stderr)
        return False
    if not item["allowed"]:
        print(T_ITEM_REFUSED.render(lang, reason=item["reason"]), file=sys.stderr)
        return False
    question = T_CONFIRM.render(lang, name=item["name"], price=item["price"])
    if yes:
        print(question + "y", flush=True)
        return True
    try:
        answer = input(question)
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes", "是", "确认"):
        print(T_NOT_CONFIRMED.render(lang))
        return False
    return True


def _print_status(help_status: dict[str, Any], lang: Lang) -> bool:
    if help_status.get("state") == "queued":
        print(T_QUEUED.render(lang, position=help_status.get("position")), flush=True)
        return True
    if help_status.get("state") == "refused":
        reason = help_status.get("reason_zh") if lang == "zh-CN" else None
        print(T_REFUSED.render(lang, reason=reason or help_status.get("reason")), flush=True)
        return True
    return False


def _through_running_agent(args: argparse.Namespace, lang: Lang) -> int:
    info = running_agent(args.data_dir_resolved)
    if args.items or args.item:
        catalogue = get(args.data_dir_resolved, "/api/catalogue", timeout=20.0)
        if args.items:
            print_items(catalogue, lang)
            return 0
        if not confirm_item(catalogue, args.item, lang, args.yes):
            return 1
    body: dict[str, Any] = {"words": args.words}
    if args.item:
        body["item"] = args.item
    call(args.data_dir_resolved, "/api/help", body, timeout=30.0)
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


async def _foreground_item(runtime: AgentRuntime, args: argparse.Namespace) -> int:
    """This command is the agent and an item is wanted: connect, show the price, ask, then call."""
    task = asyncio.ensure_future(runtime.run())
    try:
        for _ in range(200):
            if runtime.client is not None and runtime.client.state == "online":
                break
            await asyncio.sleep(0.05)
        catalogue = await runtime.catalogue()
        if args.items:
            print_items(catalogue, runtime.lang)
            return 0
        if not await asyncio.to_thread(confirm_item, catalogue, args.item, runtime.lang, args.yes):
            return 1
        print(T_SENT.render(runtime.lang), flush=True)
        await runtime.ask_for_help(args.words, args.item)
        assert runtime.client is not None
        while True:
            await runtime.client.help.changed.wait()
            _print_status(runtime.client.help.to_json(), runtime.lang)
    finally:
        if args.items or not task.done():
            runtime.stop.set()
        await task


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
    if args.items or args.item:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_foreground_item(runtime, args))
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_foreground(runtime, args.words))
    return 0
