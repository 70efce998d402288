"""The command executor on its own: a real shell, the crash ledger, the feed line, the kill switch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psutil

from agent.actions.command import CommandLedger, RunningCommand, wait_dead
from agent.executors.base import Job
from agent.executors.command import COMMAND_EXIT, CommandExecutor
from agent.executors.described import REFUSED_VAULT
from protocol.actions import CommandOutcome, CommandParams
from tests.agent.executors.conftest import Recorder


def executor(tmp: Path, vault_word: str = "Private") -> CommandExecutor:
    return CommandExecutor(CommandLedger(tmp / "running.json"), lambda text: vault_word in text)


async def test_runs_reports_started_and_shows_an_escaped_excerpt(tmp_path: Path) -> None:
    recorder = Recorder({"a1"})
    job = Job("a1", "s1", CommandParams(command="printf 'ok\\033[31m\\n'"), recorder)
    done = await executor(tmp_path).run(job)
    assert isinstance(done.outcome, CommandOutcome) and done.error is None
    assert done.outcome.output == "ok\x1b[31m\n"  # the engineer's copy is exact (once released) ...
    [(kind, template, detail, fields)] = recorder.shown
    assert kind == "result"
    assert (
        template == COMMAND_EXIT and detail == "ok\\x1b[31m\n" and fields["code"] == 0
    )  # ... the screen's escaped
    assert recorder.progress_seen == [{"id": "a1", "done": None, "total": None, "note": "started"}]
    ledger = tmp_path / "running.json"
    assert not ledger.exists() or json.loads(ledger.read_text()) == {}  # nothing left for a crash to find


async def test_stop_kills_the_tree_and_the_run_ends(tmp_path: Path) -> None:
    recorder = Recorder({"a1"})
    ex = executor(tmp_path)
    job = Job("a1", "s1", CommandParams(command="sleep 300 & sleep 300; wait"), recorder)
    task = asyncio.ensure_future(ex.run(job))
    for _ in range(500):
        if isinstance(job.work, RunningCommand) and psutil.Process(job.work.pid).children():
            break
        await asyncio.sleep(0.01)
    assert isinstance(job.work, RunningCommand)
    root = psutil.Process(job.work.pid)
    family = [root, *root.children(recursive=True)]
    assert ex.stop(job).killed >= 3
    assert not wait_dead(family, 0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert ex.stop(Job("a2", "s1", CommandParams(command="true"), recorder)).killed == 0  # nothing started


def test_vault_paths_are_refused(tmp_path: Path) -> None:
    ex = executor(tmp_path)
    assert ex.refusal(CommandParams(command="cat ~/Private/diary.txt")) == REFUSED_VAULT
    assert ex.refusal(CommandParams(command="ipconfig /all")) is None
