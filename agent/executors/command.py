"""The command executor: one consented command line, run as the user saw it, its output held for them.

Launching and killing are `agent.actions.command`'s job (its own process group today; a cgroup and a
sandbox there as they land); this module is the session's side: the prompt's words (the command with
invisible characters escaped, its length, plain-words warnings), the crash ledger, the "started"
progress, the user's feed, and the kill switch's `stop`. Its output is the user's: `holds_output` makes
the session book keep it for the user's release (`agent.session.book`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.actions.command import CommandLedger, RunningCommand, finish_command, start_command
from agent.executors.base import BaseExecutor, Done, Job, Stopped
from agent.executors.described import REFUSED_VAULT, Described
from agent.executors.readable import command_warnings, escape
from agent.i18n import Lang, Text
from protocol.actions import CommandParams
from protocol.limits import MAX_COMMAND_OUTPUT

T_COMMAND = Text("运行命令", "Run a command")
T_COMMAND_WHAT = Text(
    "工程师想在这台电脑上运行下面这条命令（最多 {timeout} 秒）。它的输出（最多 {cap} KB）会先完整显示给您，"
    "由您决定是否发送给工程师。",
    "The engineer wants to run exactly this command on this PC (for at most {timeout} s). Its output "
    "(at most {cap} KB) is shown to you in full first; you decide whether it goes to the engineer.",
)
T_COMMAND_RISK = Text(
    "命令可以改变电脑上的任何设置。看不懂就请选择“拒绝”。",
    "A command can change anything on this PC. If you do not understand it, choose Deny.",
)
T_COMMAND_UNDO = Text("命令不能自动撤销", "A command cannot be undone automatically")
COMMAND_EXIT = Text(
    "命令结束（退出码 {code}，{ms} 毫秒）", "The command finished (exit code {code}, {ms} ms)"
)
COMMAND_TIMEOUT = Text(
    "命令超时，已终止（包括它启动的所有进程）",
    "The command timed out and was stopped (with every process it started)",
)
FEED_EXCERPT = 2000  # characters of output in the activity feed; the output view shows all of it


class CommandExecutor(BaseExecutor):
    kind = "command"
    holds_output = True

    def __init__(self, ledger: CommandLedger, touches_vault: Callable[[str], bool]) -> None:
        self.ledger = ledger
        self.touches_vault = touches_vault

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, CommandParams)
        return Described(
            "command",
            T_COMMAND.render(lang),
            T_COMMAND_WHAT.render(lang, timeout=params.timeout_s, cap=MAX_COMMAND_OUTPUT // 1024),
            reason,
            T_COMMAND_RISK.render(lang),
            "high",
            T_COMMAND_UNDO.render(lang),
            verbatim=escape(params.command),
            warnings=tuple(w.render(lang) for w in command_warnings(params.command)),
            length=len(params.command),
        )

    def refusal(self, params: Any) -> Text | None:
        assert isinstance(params, CommandParams)
        return REFUSED_VAULT if self.touches_vault(params.command) else None

    async def run(self, job: Job) -> Done:
        params = job.params
        assert isinstance(params, CommandParams)
        running = await start_command(params.command, cwd=Path.home())
        job.work = running
        self.ledger.add(running.pid)
        if not job.live():
            running.kill()  # ended while it was starting
        job.progress(note="started")
        try:
            outcome = await finish_command(running, params.timeout_s)
        finally:
            self.ledger.remove(running.pid)
        job.work = None
        if outcome.exit_code is None and job.live():
            job.show("result", COMMAND_TIMEOUT)
            return Done(outcome, "timed out")
        job.show(
            "result",
            COMMAND_EXIT,
            detail=escape(outcome.output[:FEED_EXCERPT], keep="\n\t") or None,
            code=outcome.exit_code,
            ms=outcome.duration_ms,
        )
        return Done(outcome)

    def stop(self, job: Job) -> Stopped:
        running = job.work
        if isinstance(running, RunningCommand):
            return Stopped(killed=len(running.kill()))
        return Stopped()
