"""The session guard with a real agent runtime over a real loopback WSS connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil

from agent.actions.command import RunningCommand, wait_dead
from agent.session.book import MAX_WAITING
from agent.session.feed import UserLog
from protocol.actions import CommandOutcome, CommandParams, DiagnoseParams
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    Chat,
    ChatBody,
    ConsentReply,
    ConsentRequest,
    EngineerIdentity,
    SessionDecline,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    SessionOfferBody,
    new_id,
)
from tests.agent.session.harness import (
    consented_command,
    release_output,
    request,
    running_agent,
    start_session,
    wait_prompt,
)
from tests.agent.vault.helpers import PASSPHRASE, fast_vault


async def test_offer_shows_engineer_and_decline_is_sent(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        engineer = EngineerIdentity(id="E7", name="Li Na")
        await server.send(
            SessionOffer(session="s-x", body=SessionOfferBody(ticket_id="t", engineer=engineer))
        )
        prompt = await wait_prompt(runtime, "session")
        assert prompt.content["engineer"] == {"name": "Li Na", "id": "E7"}
        runtime.answer(prompt.id, False)
        decline = await server.expect(SessionDecline, session="s-x")
        assert decline.body.reason == "declined by the user"
        assert runtime.guard.session is None


async def test_offer_unanswered_is_declined_after_timeout(tmp_path: Path) -> None:
    async with running_agent(tmp_path, consent_timeout=1) as (server, _runtime, _link):
        engineer = EngineerIdentity(id="E7", name="Li Na")
        await server.send(
            SessionOffer(session="s-t", body=SessionOfferBody(ticket_id="t", engineer=engineer))
        )
        start = time.monotonic()
        decline = await server.expect(SessionDecline, session="s-t")
        assert decline.body.reason == "timed_out"
        assert 0.9 < time.monotonic() - start < 3


async def test_command_allowed_runs_and_output_returns(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        action_id = await consented_command(server, runtime, session, "echo hello-from-agent")
        reply = await server.expect(ConsentReply, body__action_id=action_id)
        assert reply.body.decision == "allowed"
        await release_output(runtime, action_id)
        result = await server.expect(ActionResult, body__action_id=action_id)
        assert result.body.status == "ok"
        assert isinstance(result.body.outcome, CommandOutcome)
        assert result.body.outcome.output == "hello-from-agent\n"
        assert result.body.outcome.exit_code == 0
        kinds = [e.kind for e in runtime.feed.entries]
        assert {"request", "consent", "result"} <= set(kinds)
        # The user's own log has the request, the command verbatim and the consent.
        log = UserLog(runtime.config.data_dir / "logs", "en")
        text = "".join(p.read_text("utf-8") for p in log.directory.glob("*.log"))
        assert "echo hello-from-agent" in text
        assert "You allowed: Run a command" in text


async def test_denied_and_timed_out_commands_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    async with running_agent(tmp_path, consent_timeout=1) as (server, runtime, _link):
        session = await start_session(server, runtime)
        denied = await request(server, session, CommandParams(command=f"touch {marker}"))
        await server.expect(ConsentRequest, body__action_id=denied)
        runtime.answer((await wait_prompt(runtime, "action")).id, False)
        assert (await server.expect(ConsentReply, body__action_id=denied)).body.decision == "denied"
        timed = await request(server, session, CommandParams(command=f"touch {marker}"))
        reply = await server.expect(ConsentReply, body__action_id=timed, timeout=5)
        assert reply.body.decision == "timed_out"
        await asyncio.sleep(0.2)
        assert not marker.exists()
        # A late click after the timeout changes nothing.
        assert runtime.guard.book.prompt is None


async def test_request_outside_a_session_is_refused(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        action_id = new_id()
        await server.send(
            ActionRequest(
                session="nope",
                body=ActionRequestBody(action_id=action_id, action=CommandParams(command="echo x")),
            )
        )
        reply = await server.expect(ConsentReply, body__action_id=action_id)
        assert reply.body.decision == "refused"
        assert runtime.guard.book.prompt is None


async def test_vault_path_is_refused_before_asking(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        vault_root = runtime.vault.layout.root
        action_id = await request(server, session, CommandParams(command=f"cat {vault_root}/vault.json"))
        reply = await server.expect(ConsentReply, body__action_id=action_id)
        assert reply.body.decision == "refused"
        assert runtime.guard.book.prompt is None


async def test_kill_switch_kills_process_tree_within_200ms(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        # A shell that starts children and grandchildren, all sleeping.
        action_id = await consented_command(
            server, runtime, session, "sleep 300 & (sleep 300 & sleep 300) & sleep 300; wait"
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            job = runtime.guard.jobs.get(action_id)
            if (
                job is not None
                and isinstance(job.work, RunningCommand)
                and len(psutil.Process(job.work.pid).children(recursive=True)) >= 4
            ):
                break
            await asyncio.sleep(0.02)
        running = runtime.guard.jobs[action_id].work
        assert isinstance(running, RunningCommand)
        root = psutil.Process(running.pid)
        family = [root, *root.children(recursive=True)]
        # A pending request too: it must be refused.
        pending = await request(server, session, CommandParams(command="echo never"))
        await server.expect(ConsentRequest, body__action_id=pending)
        start = time.perf_counter()
        summary = await runtime.end_session()
        alive = wait_dead(family, timeout=0.2)
        elapsed = (time.perf_counter() - start) * 1000
        assert not alive
        assert elapsed < 200, elapsed
        assert summary["ended"] and summary["refused"] == 1 and summary["killed"] >= 4
        end = await server.expect(SessionEnd, session=session)
        assert end.body.reason == "ended_by_user"
        # Delivered (the ping after it was answered): nothing is left to report later.
        unreported = runtime.config.data_dir / "unreported-ends.json"
        for _ in range(100):
            if unreported.read_text() == "[]":
                break
            await asyncio.sleep(0.02)
        assert unreported.read_text() == "[]"


async def test_engineer_end_and_chat(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        await server.send(Chat(session=session, body=ChatBody(text="hello, I am looking")))
        await server.send(SessionEnd(session=session, body=SessionEndBody(reason="resolved")))
        for _ in range(100):
            if runtime.guard.session is None:
                break
            await asyncio.sleep(0.02)
        assert runtime.guard.session is None
        texts = [e.text.en for e in runtime.feed.entries]
        assert any("hello, I am looking" in t for t in texts)
        assert any("resolved" in t for t in texts)


async def test_diagnose_action_returns_a_report(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        action_id = await request(server, session, DiagnoseParams())
        await server.expect(ConsentRequest, body__action_id=action_id)
        runtime.answer((await wait_prompt(runtime, "action")).id, True)
        result = await server.expect(ActionResult, body__action_id=action_id, timeout=15)
        assert result.body.status == "ok"
        assert result.body.outcome is not None and result.body.outcome.kind == "diagnose"
        assert result.body.outcome.report.verdict in ("ok", "degraded", "offline")


async def test_vault_closes_when_the_session_starts_and_its_folders_are_refused(tmp_path: Path) -> None:
    private = tmp_path / "Private"
    private.mkdir()
    (private / "diary.txt").write_text("secret")
    async with running_agent(tmp_path) as (server, runtime, _link):
        vault = fast_vault(runtime.config.data_dir)
        vault.add(private)
        vault.open(PASSPHRASE)
        assert (private / "diary.txt").read_text() == "secret"
        session = await start_session(server, runtime)  # accept → the vault closes first
        assert not (private / "diary.txt").exists()
        assert runtime.vault.session_active()
        for command in (f"cat {private}/diary.txt", f"tar c {tmp_path}", f"ls {private.parent}/Priv*"):
            action_id = await request(server, session, CommandParams(command=command))
            reply = await server.expect(ConsentReply, body__action_id=action_id)
            assert reply.body.decision == "refused", command
        assert runtime.guard.book.prompt is None
        await runtime.end_session()
        for _ in range(100):
            if not runtime.vault.session_active():
                break
            await asyncio.sleep(0.02)
        assert not runtime.vault.session_active()  # the user may open it again


async def test_300_requests_make_one_prompt_and_a_visible_queue(tmp_path: Path) -> None:
    async with running_agent(tmp_path, consent_timeout=30) as (server, runtime, _link):
        session = await start_session(server, runtime)
        ids = [await request(server, session, CommandParams(command=f"echo {n}")) for n in range(300)]
        first = await server.expect(ConsentRequest, body__action_id=ids[0], timeout=30)
        assert first.body.timeout_s == 30
        for _ in range(1000):
            if len(runtime.guard.to_json()["queue"]) == MAX_WAITING:
                break
            await asyncio.sleep(0.02)
        state = runtime.guard.to_json()
        assert len(state["prompts"]) == 1 and state["prompts"][0]["content"]["action_id"] == ids[0]
        assert [q["id"] for q in state["queue"]] == ids[1 : 1 + MAX_WAITING]
        assert state["queue"][0]["preview"] == "echo 1" and state["queue"][0]["en"] == "Run a command"
        # Beyond the queue: refused at once, the user never bothered.
        refused = await server.expect(ConsentReply, body__action_id=ids[-1], timeout=30)
        assert refused.body.decision == "refused"
        # Answering shows the next one, and only then is the engineer told it is being asked.
        runtime.answer(state["prompts"][0]["id"], False)
        assert (await server.expect(ConsentReply, body__action_id=ids[0])).body.decision == "denied"
        await server.expect(ConsentRequest, body__action_id=ids[1])
        assert runtime.guard.to_json()["prompts"][0]["content"]["action_id"] == ids[1]
        summary = await runtime.end_session()
        assert summary["refused"] == MAX_WAITING  # the prompt and the 99 still queued


async def test_send_without_asking_sends_the_output_at_once(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        action_id = await consented_command(server, runtime, session, "echo auto", send_output=True)
        result = await server.expect(ActionResult, body__action_id=action_id)
        assert isinstance(result.body.outcome, CommandOutcome) and result.body.outcome.output == "auto\n"
        [shown] = runtime.guard.to_json()["outputs"]
        assert shown["state"] == "auto" and shown["output"] == "auto\n"


async def test_a_kind_without_an_executor_is_refused_before_asking(tmp_path: Path) -> None:
    async with running_agent(tmp_path) as (server, runtime, _link):
        session = await start_session(server, runtime)
        runtime.guard.executors = {k: v for k, v in runtime.guard.executors.items() if k != "diagnose"}
        action_id = await request(server, session, DiagnoseParams())
        reply = await server.expect(ConsentReply, body__action_id=action_id)
        assert reply.body.decision == "refused" and "cannot do this kind" in (reply.body.reason or "")
        assert runtime.guard.book.prompt is None
