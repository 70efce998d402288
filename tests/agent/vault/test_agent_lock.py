"""The session lock against a real running agent (its panel is the local control channel): with the lock
file deleted during a session, neither `rme-agent vault open` (another process) nor the panel opens."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from protocol.messages import (
    EngineerIdentity,
    SessionDecline,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    SessionOfferBody,
)
from tests.agent.session.harness import running_agent, start_session, wait_prompt
from tests.agent.vault.helpers import FAST_KDF, PASSPHRASE, vault_cli


async def test_deleting_the_lock_file_does_not_open_the_vault_during_a_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Private").mkdir(parents=True)
    (home / "Private" / "diary.txt").write_bytes(b"dear diary")
    async with running_agent(tmp_path) as (server, runtime, _link):
        data = runtime.config.data_dir
        await asyncio.to_thread(runtime.vault.init, PASSPHRASE, **FAST_KDF)
        await asyncio.to_thread(runtime.vault.add, home / "Private")
        await runtime.ready.wait()
        session = await start_session(server, runtime)
        lock_file = data / "vault" / "session.json"
        assert lock_file.exists()
        lock_file.unlink()  # what a consented `rm` of it did

        env = {"RME_VAULT_PASSPHRASE": PASSPHRASE}

        async def refused(*args: str | Path, lang: str = "en") -> str:
            done = await asyncio.to_thread(vault_cli, *args, "--data-dir", data, "--lang", lang, env=env)
            assert done.returncode == 1, (args, done.stdout, done.stderr)
            return done.stderr

        assert "session is active" in await refused("open")  # the beacon, and the agent's word
        # As where there is no beacon (Windows, macOS): the CLI asks the running agent over its panel.
        runtime.vault._beacon.lower()
        assert "session is active" in await refused("open")
        assert "会话" in await refused("remove", "Private", lang="zh-CN")
        status = await asyncio.to_thread(vault_cli, "status", "--data-dir", data)
        assert "session is active" in status.stdout
        # And with the control channel's file deleted too, the beacon still says so (Linux).
        runtime.vault._beacon.raise_()
        panel_file = data / "panel.json"
        saved = panel_file.read_bytes()
        panel_file.unlink()
        assert "session is active" in await refused("open")
        panel_file.write_bytes(saved)

        info = runtime.panel.info
        async with httpx.AsyncClient(base_url=info.base, trust_env=False) as client:
            headers = {"Authorization": f"Bearer {info.secret}"}
            reply = await client.post("/api/vault/open", json={"passphrase": PASSPHRASE}, headers=headers)
        assert reply.status_code == 423 and reply.json()["error"] == "session_active"
        assert not (home / "Private").exists()

        await server.send(SessionEnd(session=session, body=SessionEndBody(reason="resolved")))
        for _ in range(200):
            if not runtime.vault.session_active():
                break
            await asyncio.sleep(0.05)
        done = await asyncio.to_thread(vault_cli, "open", "--data-dir", data, env=env)
        assert done.returncode == 0, done.stderr
        assert (home / "Private" / "diary.txt").read_bytes() == b"dear diary"


async def test_a_damaged_record_refuses_the_session_at_once_with_a_reason(tmp_path: Path) -> None:
    """Before: the offer's task died on a traceback and the engineer waited for the server's timeout."""
    async with running_agent(tmp_path) as (server, runtime, _link):
        await asyncio.to_thread(runtime.vault.init, PASSPHRASE, **FAST_KDF)
        (runtime.config.data_dir / "vault" / "vault.json").write_bytes(b'{"format": 2, "ke')
        status = await runtime.vault_status()
        assert status["ok"] and status["damaged"] and "damaged" in status["message"]["en"]
        await server.send(
            SessionOffer(
                session="s-damaged",
                body=SessionOfferBody(ticket_id="t-1", engineer=EngineerIdentity(id="E1", name="Wang Wei")),
            )
        )
        prompt = await wait_prompt(runtime, "session")
        started = time.monotonic()
        assert runtime.answer(prompt.id, True)
        decline = await server.expect(SessionDecline, session="s-damaged")
        assert decline.body.reason == "vault" and time.monotonic() - started < 5
        said = [e.text for e in runtime.feed.entries if e.kind == "session"][-1]
        assert "is damaged" in said.en and "已损坏" in said.zh
        assert not runtime.vault.session_active()
