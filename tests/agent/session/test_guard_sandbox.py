"""Issue 12 through the real guard: a consented command cannot see the vault or the agent's data, even
spelled so the request check cannot read it; End reaches processes that left the command's tree."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import psutil

from agent.actions.command import RunningCommand, wait_dead
from protocol.actions import CommandOutcome
from protocol.messages import ActionResult, ConsentReply
from tests.agent.actions.test_command import _escaped, escapes
from tests.agent.sandbox.helpers import need
from tests.agent.session.harness import consented_command, running_agent, start_session
from tests.agent.vault.helpers import PASSPHRASE, fast_vault


def b64(path: Path) -> str:
    return f"$(echo {base64.b64encode(str(path).encode()).decode()} | base64 -d)"


async def test_an_obfuscated_path_reaches_nothing_of_the_vault(tmp_path: Path) -> None:
    from agent.sandbox import landlock, mounts

    need(mounts.usable() or landlock.abi_version() > 0, "mount namespace or Landlock")
    private = tmp_path / "Private"
    private.mkdir()
    (private / "diary.txt").write_text("DIARY-SECRET")
    async with running_agent(tmp_path) as (server, runtime, _link):
        data = runtime.config.data_dir
        vault = fast_vault(data)
        vault.add(private)
        vault.open(PASSPHRASE)
        session = await start_session(server, runtime)  # the vault closes and locks
        assert runtime.vault.session_active()
        lock = runtime.vault.layout.session
        lock_existed = lock.exists()
        before = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
        command = "; ".join(
            [
                f"ls -A {b64(data)}",
                f"cd {b64(data)} && find . -type f -exec cat {{}} +; cd",
                f"rm -f {b64(lock)}",
                f"rm -rf {b64(data / 'vault')}",
                f"ls -A {b64(private)}",
                "echo finished",
            ]
        )
        action_id = await consented_command(server, runtime, session, command, send_output=True)
        assert (await server.expect(ConsentReply, body__action_id=action_id)).body.decision == "allowed"
        result = await server.expect(ActionResult, body__action_id=action_id, timeout=30)
        outcome = result.body.outcome
        assert isinstance(outcome, CommandOutcome)
        assert outcome.output.endswith("finished\n")
        for name in ("device", "vault.json", "session.json", "store", "panel.json", "logs", "DIARY"):
            assert name not in outcome.output, (name, outcome.output)
        # The lock is where it was, the vault still refuses to open, the data dir is untouched.
        assert lock.exists() == lock_existed
        assert runtime.vault.session_active()
        assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) >= before


async def test_end_kills_what_left_the_commands_tree_within_200ms(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        command, files = escapes(tmp_path)
        action_id = await consented_command(server, runtime, session, command + "sleep 300")
        running = None
        for _ in range(500):
            job = runtime.guard.jobs.get(action_id)
            if job is not None and isinstance(job.work, RunningCommand):
                running = job.work
                break
            await asyncio.sleep(0.01)
        assert running is not None
        procs = await _escaped(files, running.pid)
        family = [psutil.Process(running.pid), *procs]
        start = time.perf_counter()
        summary = await runtime.end_session()
        alive = wait_dead(family, timeout=0.2)
        elapsed = (time.perf_counter() - start) * 1000
        assert not alive, alive
        assert elapsed < 200, elapsed
        assert summary["ended"] and summary["killed"] >= 4
