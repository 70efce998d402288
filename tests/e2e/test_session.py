"""The whole flow with real processes: `rme-agent run` ⇄ `rme-server serve` ⇄ a protocol engineer client.
Consent given, denied and timed out; the kill switch with a process tree; the kill switch offline."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import psutil

from agent.actions.command import wait_dead
from protocol.actions import CommandOutcome, CommandParams
from protocol.messages import ActionResult, ConsentReply, ConsentRequest, SessionAccept, SessionEnd, Welcome
from tests.e2e.harness import BIN, Engineer, RealAgent, RealServer, cli, engineer, eventually, real_agent
from tests.e2e.proxy import ThreadedProxy


async def open_session(eng: Engineer, agent: RealAgent, words: str) -> str:
    await eng.expect(Welcome)
    out = await asyncio.to_thread(agent.cli, "help", words, "--wait", "20")
    assert "In the queue: 0 ahead of you" in out  # `rme-agent help` shows the queue position
    await eng.accept_ticket_of(words)
    prompt = await asyncio.to_thread(agent.wait_prompt, "session")
    assert prompt["content"]["engineer"]["name"] == "Wang Wei"  # who it is, before accepting
    await asyncio.to_thread(agent.answer, prompt["id"], True)
    return (await eng.expect(SessionAccept)).session or ""


async def answer_next(agent: RealAgent, allow: bool | None) -> None:
    prompt = await asyncio.to_thread(agent.wait_prompt, "action")
    if allow is not None:
        await asyncio.to_thread(agent.answer, prompt["id"], allow)


async def test_consent_given_denied_and_timed_out(tmp_path: Path, server: RealServer) -> None:
    marker = tmp_path / "denied-ran"
    with real_agent(tmp_path, server, RME_CONSENT_TIMEOUT="2") as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "no internet since this morning")
            given = await eng.request(session, CommandParams(command="echo consented"))
            assert (await eng.expect(ConsentRequest, body__action_id=given)).body.timeout_s == 2
            await answer_next(agent, True)
            assert (await eng.expect(ConsentReply, body__action_id=given)).body.decision == "allowed"
            assert (await asyncio.to_thread(agent.held_output, given))["output"] == "consented\n"
            await asyncio.to_thread(agent.release, given)
            result = await eng.expect(ActionResult, body__action_id=given)
            assert (
                isinstance(result.body.outcome, CommandOutcome)
                and result.body.outcome.output == "consented\n"
            )

            denied = await eng.request(session, CommandParams(command=f"touch {marker}"))
            await answer_next(agent, False)
            assert (await eng.expect(ConsentReply, body__action_id=denied)).body.decision == "denied"

            timed = await eng.request(session, CommandParams(command=f"touch {marker}"))
            await answer_next(agent, None)  # shown, never answered
            assert (await eng.expect(ConsentReply, body__action_id=timed)).body.decision == "timed_out"
            await asyncio.sleep(0.3)
            assert not marker.exists()
        # The engineer left: the session ended for the agent too, and the user's log tells the whole story.
        log = "".join(p.read_text("utf-8") for p in (agent.data / "logs").glob("*.log"))
        for line in (
            "You allowed: Run a command",
            "You denied: Run a command",
            "No answer, denied automatically: Run a command",
            "echo consented",
            "Wang Wei",
        ):
            assert line in log


async def test_kill_switch_kills_the_command_tree(tmp_path: Path, server: RealServer) -> None:
    with real_agent(tmp_path, server) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "slow internet")
            command = "sleep 300 & (sleep 300 & sleep 300) & sleep 300; wait"
            action = await eng.request(session, CommandParams(command=command, timeout_s=600))
            await answer_next(agent, True)
            await eng.expect(ConsentReply, body__action_id=action)
            root = psutil.Process(agent.proc.pid)
            await eventually(lambda: len(root.children(recursive=True)) >= 5)
            family = root.children(recursive=True)
            assert len(family) >= 5
            out = await asyncio.to_thread(agent.cli, "end")
            assert "Session ended" in out
            assert wait_dead(family, 0.2) == []
            elapsed = float(out.rsplit("(", 1)[1].split(" ms")[0])
            assert elapsed < 200
            end = await eng.expect(SessionEnd, session=session)
            assert end.body.reason == "ended_by_user"
            assert agent.proc.poll() is None  # the agent itself keeps running


async def test_kill_switch_with_the_network_cut(tmp_path: Path, server: RealServer) -> None:
    proxy = ThreadedProxy(server.port)
    try:
        with real_agent(tmp_path, server, via=f"wss://127.0.0.1:{proxy.port}") as agent:
            async with engineer(server) as eng:
                session = await open_session(eng, agent, "line keeps dropping")
                action = await eng.request(session, CommandParams(command="sleep 300 & sleep 300; wait"))
                await answer_next(agent, True)
                await eng.expect(ConsentReply, body__action_id=action)
                root = psutil.Process(agent.proc.pid)
                await eventually(lambda: len(root.children(recursive=True)) >= 3)
                family = root.children(recursive=True)
                proxy.cut()
                out = await asyncio.to_thread(agent.cli, "end")
                assert "Session ended" in out
                assert wait_dead(family, 0.2) == []  # stopped locally, network or not
                unreported = agent.data / "unreported-ends.json"
                await eventually(lambda: session in unreported.read_text())
                assert session in unreported.read_text()
                proxy.restore()
                # Back online: the agent reconnects by itself and reports the end it could not send.
                await eventually(lambda: session not in unreported.read_text(), within=20)
                assert session not in unreported.read_text()
                end = await eng.expect(SessionEnd, session=session, timeout=20)
                assert end.body.reason in ("ended_by_user", "connection_lost")
                feed = [e["text"]["en"] for e in agent.state()["feed"]]
                assert any("ended while offline" in text for text in feed)
    finally:
        proxy.stop()


async def test_closing_the_agent_ends_the_session_first(tmp_path: Path, server: RealServer) -> None:
    with real_agent(tmp_path, server) as agent:
        url = await asyncio.to_thread(agent.cli, "panel", "--print-url")  # the one-time link works once
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(url.strip())).status_code == 303
            assert (await client.get(url.strip())).status_code == 403
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "closing test")
            action = await eng.request(session, CommandParams(command="sleep 300 & sleep 300; wait"))
            await answer_next(agent, True)
            await eng.expect(ConsentReply, body__action_id=action)
            root = psutil.Process(agent.proc.pid)
            await eventually(lambda: len(root.children(recursive=True)) >= 3)
            family = root.children(recursive=True)
            agent.proc.send_signal(signal.SIGINT)  # Ctrl-C
            end = await eng.expect(SessionEnd, session=session)
            assert end.body.reason == "ended_by_user"
            assert wait_dead(family, 1.0) == []
            assert await asyncio.to_thread(agent.proc.wait, 10) == 0
            assert not (agent.data / "panel.json").exists()


async def test_help_without_a_running_agent_becomes_the_agent(tmp_path: Path, server: RealServer) -> None:
    data = tmp_path / "solo"
    env = {**os.environ, "RME_LANG": "en", "RME_OPEN_BROWSER": "0", "RME_INBOX": str(tmp_path / "solo-inbox")}
    await asyncio.to_thread(
        cli,
        "rme-agent",
        "enroll",
        server.enroll_code(),
        "--server",
        server.url,
        "--ca",
        str(server.ca),
        "--data-dir",
        str(data),
    )
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "rme-agent"),
        "help",
        "solo help",
        "--server",
        server.url,
        "--data-dir",
        str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not any("In the queue" in line for line in lines):
                lines.append((await proc.stdout.readline()).decode())
    finally:
        proc.send_signal(signal.SIGINT)
        await proc.wait()
    assert proc.returncode == 0
    assert any("Expert called" in line for line in lines)
