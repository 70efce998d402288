"""Checkpoints the running server makes on its own, and the evidence an agent gets at a session end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.evidence.verify import verify_evidence
from protocol import decode, encode
from protocol.messages import AuditEvidence, Envelope
from server.audit import AuditLog, NoteSigner
from server.audit.cosign import CosignerKey
from server.audit.keeper import AuditKeeper, make_evidence, session_evidence
from server.audit.witness import Witness
from server.audit.witness_client import WitnessClient
from server.audit.witness_http import serve_witness


async def test_a_checkpoint_is_signed_every_interval_while_there_are_new_events(audit_log: AuditLog) -> None:
    keeper = AuditKeeper(audit_log, 0.05)
    keeper.start()
    try:
        await audit_log.append("auth.login", "engineer:alice", None, {})
        for _ in range(200):
            latest = await audit_log.latest_checkpoint()
            if latest is not None and latest.checkpoint.size == 1:
                break
            await asyncio.sleep(0.05)
        assert latest is not None and latest.checkpoint.size == 1
        assert (await audit_log.verify_log()).ok  # nobody ran `audit checkpoint`
        await audit_log.append("auth.logout", "engineer:alice", None, {})
    finally:
        await keeper.stop()  # the last events are signed on the way out
    assert (await audit_log.latest_checkpoint()).checkpoint.size == 2  # type: ignore[union-attr]


async def test_no_new_events_no_new_checkpoint(audit_log: AuditLog) -> None:
    keeper = AuditKeeper(audit_log, 60)
    await audit_log.append("auth.login", "engineer:alice", None, {})
    assert await keeper.tick() is not None
    assert await keeper.tick() is None
    untimed = AuditKeeper(audit_log, 0)  # no timed checkpoints, but one on the way out
    await audit_log.append("auth.logout", "engineer:alice", None, {})
    assert await untimed.tick() is None
    assert await untimed.tick(final=True) is not None


class FakeAgentLink:
    """The agent's connection as far as the evidence goes: what the server would write to it."""

    def __init__(self) -> None:
        self.closed = False
        self.sent: list[Envelope] = []

    async def send(self, message: Envelope) -> None:
        self.sent.append(decode(encode(message)))  # exactly what crosses the wire


async def test_the_agent_gets_a_witnessed_proof_of_the_sessions_last_event(
    audit_log: AuditLog, signer: NoteSigner, tmp_path: Path, unused_tcp_port: int
) -> None:
    key = CosignerKey.generate("w1")
    server = asyncio.create_task(
        serve_witness(Witness(tmp_path, key, [signer.verifier]), "127.0.0.1", unused_tcp_port, announce=False)
    )
    try:
        for _ in range(400):  # until it listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        audit_log.witness = WitnessClient(f"http://127.0.0.1:{unused_tcp_port}", key.verifier)
        await audit_log.append("session.request", "engineer:bob", "S-9", {"argv": ["ipconfig"]})
        await audit_log.append("session.request", "engineer:bob", "S-other", {})
        await audit_log.append("session.end", "device:d1", "S-9", {"reason": "ended_by_user"})
        link = FakeAgentLink()
        session_evidence(audit_log, "S-9", link)
        for _ in range(200):
            if link.sent:
                break
            await asyncio.sleep(0.05)
    finally:
        server.cancel()
    (message,) = link.sent
    assert isinstance(message, AuditEvidence) and message.session == "S-9"
    body = message.body.model_dump()
    report = verify_evidence(body, str(signer.verifier), body["witness_keys"])
    assert report.ok, report.problems
    assert (report.index, report.size, report.kind, report.witnesses) == (2, 3, "session.end", ["w1"])


async def test_evidence_for_an_unknown_session_is_none(audit_log: AuditLog) -> None:
    assert await make_evidence(audit_log, "nobody") is None
