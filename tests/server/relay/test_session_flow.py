"""The whole story over real sockets, on SQLite and PostgreSQL: an agent enrolls, authenticates and asks
for help; an engineer logs in, sees the ticket pushed, accepts; the user accepts the offer; the engineer
runs actions and pushes a file; the agent asks consent and returns results; the session ends; and the
session's audit export verifies offline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from protocol.actions import CommandOutcome, CommandParams, DiagnoseParams, PushFileOutcome, PushFileParams
from protocol.codec import FileChunk, encode_chunk
from protocol.messages import (
    ActionProgress,
    ActionProgressBody,
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    ActionResultBody,
    Chat,
    ChatBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
    Error,
    Feedback,
    FeedbackBody,
    HelpQueued,
    HelpRequest,
    HelpRequestBody,
    QueueUpdate,
    SessionAccept,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    TicketAccept,
    TicketAcceptBody,
)
from protocol.report import DiagnosisReport
from server.audit import SessionAuditExport, verify_export
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    SUPERVISOR,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    audit_kinds,
    login,
    new_customer_code,
    open_engineer,
    verify_offline,
)

REPORT = DiagnosisReport.model_validate(
    {
        "verdict": "offline",
        "root_cause": "dns.unreachable",
        "findings": [],
        "interface": "eth0",
        "duration_ms": 812,
    }
)


async def consent_and_run(agent: ProtocolClient, session: str, request: ActionRequest) -> None:
    action_id = request.body.action_id
    await agent.send(
        ConsentRequest(session=session, body=ConsentRequestBody(action_id=action_id, timeout_s=60))
    )
    await agent.send(
        ConsentReply(session=session, body=ConsentReplyBody(action_id=action_id, decision="allowed"))
    )


async def test_full_flow_is_relayed_and_audited(rme_server: RunningServer, tmp_path: Path) -> None:
    admin = await login(rme_server, *ADMIN)
    _, code = await new_customer_code(admin)
    identity = AgentIdentity()
    agent = await agent_enroll(rme_server, identity, code)

    engineer_http = await login(rme_server, *ENGINEER)
    engineer = await open_engineer(rme_server, engineer_http)

    # The user asks for help; the engineer sees it pushed.
    await agent.send(
        HelpRequest(body=HelpRequestBody(words="上不了网 no internet", report=REPORT, lang="zh-CN"))
    )
    queued = await agent.expect(HelpQueued)
    update = await engineer.expect(QueueUpdate)
    mine = [t for t in update.body.changed if t.ticket_id == queued.body.ticket_id]
    assert mine and mine[0].root_cause == "dns.unreachable" and mine[0].state == "queued"

    # The engineer accepts; the user is offered the session, naming the engineer, and accepts.
    await engineer.send(TicketAccept(body=TicketAcceptBody(ticket_id=queued.body.ticket_id)))
    offer = await agent.expect(SessionOffer)
    assert offer.body.engineer.name == ENGINEER[0]
    session = offer.session
    assert session is not None
    await agent.send(SessionAccept(session=session))
    await engineer.expect(SessionAccept)

    # A command: consent asked and given, progress, result with output.
    command = ActionRequest(
        session=session,
        body=ActionRequestBody(
            action_id="act-1", action=CommandParams(command="ipconfig /all"), reason="look"
        ),
    )
    await engineer.send(command)
    relayed = await agent.expect(ActionRequest)
    assert relayed.body == command.body
    await consent_and_run(agent, session, relayed)
    assert (await engineer.expect(ConsentRequest)).body.action_id == "act-1"
    assert (await engineer.expect(ConsentReply)).body.decision == "allowed"
    await agent.send(
        ActionProgress(session=session, body=ActionProgressBody(action_id="act-1", note="running"))
    )
    await engineer.expect(ActionProgress)
    outcome = CommandOutcome(exit_code=0, output="Windows IP Configuration", duration_ms=40)
    await agent.send(
        ActionResult(session=session, body=ActionResultBody(action_id="act-1", status="ok", outcome=outcome))
    )
    result = await engineer.expect(ActionResult)
    assert result.body.outcome == outcome

    # A denied diagnosis: the denial reaches the engineer, and no result may follow.
    await engineer.send(
        ActionRequest(session=session, body=ActionRequestBody(action_id="act-2", action=DiagnoseParams()))
    )
    await agent.expect(ActionRequest)
    await agent.send(
        ConsentRequest(session=session, body=ConsentRequestBody(action_id="act-2", timeout_s=30))
    )
    await agent.send(
        ConsentReply(session=session, body=ConsentReplyBody(action_id="act-2", decision="denied"))
    )
    await engineer.expect(ConsentRequest)
    assert (await engineer.expect(ConsentReply)).body.decision == "denied"

    # A file push: chunks pass only after consent, and the server hashes what it relays.
    data = b"driver bytes " * 50_000
    digest = hashlib.sha256(data).hexdigest()
    push = PushFileParams(name="fix.txt", size=len(data), sha256=digest)
    await engineer.send(
        ActionRequest(session=session, body=ActionRequestBody(action_id="push-1", action=push))
    )
    await agent.expect(ActionRequest)
    await agent.send(
        ConsentRequest(session=session, body=ConsentRequestBody(action_id="push-1", timeout_s=60))
    )
    await agent.send(
        ConsentReply(session=session, body=ConsentReplyBody(action_id="push-1", decision="allowed"))
    )
    await engineer.expect(ConsentRequest)
    await engineer.expect(ConsentReply)
    step = 200_000
    for offset in range(0, len(data), step):
        piece = data[offset : offset + step]
        last = offset + step >= len(data)
        await engineer.send_raw(encode_chunk(FileChunk("push-1", offset, piece, last)))
    received = bytearray()
    while True:
        chunk = await agent.recv()
        assert isinstance(chunk, FileChunk)
        received += chunk.payload
        if chunk.last:
            break
    assert bytes(received) == data
    saved = PushFileOutcome(saved_as="fix.txt", size=len(data), sha256=digest)
    await agent.send(
        ActionResult(session=session, body=ActionResultBody(action_id="push-1", status="ok", outcome=saved))
    )
    await engineer.expect(ActionResult)

    # Frames refused inside the session are audited with the session, so the user's record shows them:
    # the agent's undecodable frame, and the engineer's malformed one naming the session.
    await agent.send_raw('{"type": "no.such.thing"}')
    assert (await agent.expect(Error)).body.code == "frame.dropped"
    await engineer.send_raw(json.dumps({"v": 1, "type": "action.request", "session": session, "body": {}}))
    assert (await engineer.expect(Error)).body.code == "frame.dropped"
    dropped = [k for k in await audit_kinds(rme_server) if k[0] == "relay.frame_dropped" and k[2] == session]
    assert {actor.split(":")[0] for _, actor, _ in dropped} == {"device", "engineer"}

    # Chat both ways, then the engineer ends the session as resolved; the user rates it.
    await engineer.send(Chat(session=session, body=ChatBody(text="DNS fixed")))
    assert (await agent.expect(Chat)).body.text == "DNS fixed"
    await agent.send(Chat(session=session, body=ChatBody(text="谢谢")))
    assert (await engineer.expect(Chat)).body.text == "谢谢"
    await engineer.send(
        SessionEnd(session=session, body=SessionEndBody(reason="resolved", resolution="dns.fixed"))
    )
    ended = await agent.expect(SessionEnd)
    assert ended.body.reason == "resolved"
    await agent.send(Feedback(session=session, body=FeedbackBody(rating=5)))

    ticket = await engineer_http.get(f"/api/tickets/{queued.body.ticket_id}")
    assert ticket.json()["state"] == "ended"

    # The session's audit export verifies offline, and holds the whole story in order.
    supervisor = await login(rme_server, *SUPERVISOR)
    for _ in range(20):  # the feedback is recorded after the frame arrives
        export_reply = await supervisor.get(f"/api/sessions/{session}/audit")
        assert export_reply.status_code == 200, export_reply.text
        export = SessionAuditExport.from_json(json.dumps(export_reply.json()))
        kinds = [e.document()["kind"] for e in export.events]
        if "feedback" in kinds:
            break
    report = verify_export(export, export.verifier_key)
    assert report.ok, report.summary()
    assert kinds[:3] == ["help.request", "ticket.accept", "session.accept"]
    for expected in (
        "action.request",
        "consent.reply",
        "action.result",
        "file.pushed",
        "session.end",
        "feedback",
    ):
        assert expected in kinds
    pushed = next(e.document()["data"] for e in export.events if e.document()["kind"] == "file.pushed")
    assert pushed["sha256"] == digest
    # The command's output is in no signed event, only its hash and size; the text rides beside them
    # (still retained) and is checked against that hash.
    assert "Windows IP Configuration" not in "".join(e.leaf for e in export.events)
    recorded = next(
        e.document()["data"]["outcome"] for e in export.events if e.document()["kind"] == "action.result"
    )
    output_raw = b"Windows IP Configuration"
    assert recorded["output_sha256"] == hashlib.sha256(output_raw).hexdigest()
    assert recorded["output_size"] == len(output_raw) and "output" not in recorded
    assert [(o.action_id, o.text) for o in export.outputs] == [("act-1", "Windows IP Configuration")]
    assert report.outputs_checked == 1
    forged = replace(export, outputs=[replace(export.outputs[0], text="nothing to see")])
    assert not verify_export(forged, export.verifier_key).ok
    # The CLI's offline verifier agrees.
    verify_offline(rme_server, export.to_json(), tmp_path)
    for client in (agent, engineer):
        await client.close()
    for http in (admin, engineer_http, supervisor):
        await http.aclose()
