"""Engineer frames and file-push chunks on their way to the agent: each arrives at the agent's link
through the bus and is checked against the link's session (whose engineer, which state, which action,
which piece of a file), audited, then written to the agent's socket — or refused back to the engineer.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, cast

from protocol.codec import decode, decode_chunk
from protocol.errors import ProtocolError
from protocol.lifecycle import session_admits
from protocol.messages import ActionRequest, Envelope, Error, ErrorBody, Message, SessionEnd
from server.audit import AuditWriteError
from server.relay.bus import Note
from server.relay.route import audit_data
from server.relay.services import engineer_topic
from server.tickets.actions import ActionError
from server.tickets.lifecycle import Outcome, Party, TransitionError, end

if TYPE_CHECKING:
    from server.relay.agent_link import AgentLink


async def _refuse_engineer(link: AgentLink, note: Note, code: str, detail: str, ref: str | None) -> None:
    link.services.metrics.dropped.labels("engineer", code.rsplit(".", maxsplit=1)[-1]).inc()
    with contextlib.suppress(AuditWriteError):
        await link.services.record(
            "relay.frame_dropped", note.sender, note.session, {"reason": code, "detail": detail[:300]}
        )
    data = json.dumps({"code": code, "message": detail[:256], "ref": ref})
    if note.reply_to:
        await link.services.bus.publish(note.reply_to, Note("error", "server", note.session, data=data))


async def relay_engineer_frame(link: AgentLink, note: Note) -> None:
    message: Message
    if isinstance(note.message, Envelope):
        message = cast("Message", note.message)
    else:
        try:
            message = decode(note.frame)
        except ProtocolError as exc:
            await _refuse_engineer(link, note, "frame.dropped", exc.reason, None)
            return
    route = link.route
    if (
        route is None
        or route.id != note.session
        or route.engineer_id is None
        or note.reply_to != engineer_topic(route.engineer_id)
        or route.session is None
    ):
        await _refuse_engineer(
            link, note, "session.not_yours", "no such session for this engineer", message.id
        )
        return
    msg_type = message.type
    if not session_admits(route.session, msg_type):
        await _refuse_engineer(
            link, note, "session.state", f"{msg_type} not allowed in a {route.session} session", message.id
        )
        return
    if isinstance(message, SessionEnd):
        try:
            outcome = Outcome(message.body.reason)
            end(route.ticket.state, outcome, Party.ENGINEER)
        except (ValueError, TransitionError) as exc:
            await _refuse_engineer(link, note, "session.state", str(exc), message.id)
            return
        await link.finish(
            route,
            outcome,
            actor=note.sender,
            resolution=message.body.resolution,
            note_text=message.body.note,
            notify_engineer=False,
        )
        return
    if isinstance(message, ActionRequest):
        params = message.body.action
        size = getattr(params, "size", None)
        digest = getattr(params, "sha256", None)
        try:
            route.actions.open(message.body.action_id, params.kind, size, digest)
        except ActionError as exc:
            await _refuse_engineer(link, note, "action.refused", str(exc), message.id)
            return
        try:
            await link.services.record("action.request", note.sender, route.id, audit_data(message))
        except AuditWriteError:
            route.actions.cancel_all()
            await _refuse_engineer(
                link, note, "server.unavailable", "could not be recorded; not relayed", message.id
            )
            return
    link.services.count_relayed(msg_type)
    await link.send_frame(note.frame if isinstance(note.frame, str) else note.frame.decode())


async def relay_engineer_chunk(link: AgentLink, note: Note) -> None:
    route = link.route
    frame = note.frame if isinstance(note.frame, bytes) else note.frame.encode()
    try:
        chunk = decode_chunk(frame)
    except ProtocolError as exc:
        await _refuse_engineer(link, note, "frame.dropped", exc.reason, None)
        return
    if (
        route is None
        or route.id != note.session
        or route.engineer_id is None
        or note.reply_to != engineer_topic(route.engineer_id)
    ):
        await _refuse_engineer(link, note, "session.not_yours", "no such session for this engineer", None)
        return
    try:
        action = route.actions.check_chunk(chunk.action_id, chunk.offset, len(chunk.payload), chunk.last)
    except ActionError as exc:
        await _refuse_engineer(link, note, "action.refused", str(exc), chunk.action_id)
        return
    route.actions.take_chunk(action, chunk.payload, chunk.last)
    if chunk.last:
        digest = action.digest.hexdigest()
        try:
            await link.services.record(
                "file.pushed",
                note.sender,
                route.id,
                {
                    "action": action.id,
                    "size": action.received,
                    "sha256": digest,
                    "announced": action.file_sha256,
                },
            )
        except AuditWriteError:
            await _refuse_engineer(
                link, note, "server.unavailable", "could not be recorded; not relayed", action.id
            )
            return
        if digest != action.file_sha256:
            mismatch = "file does not match its announced SHA-256"
            await _refuse_engineer(link, note, "action.refused", mismatch, action.id)
            # The agent deletes its partial file now instead of waiting out its idle timeout.
            rejected = ErrorBody(code="file.rejected", message=mismatch, ref=action.id)
            await link.send(Error(session=route.id, body=rejected))
            return
    link.services.count_relayed("chunk")
    await link.send_frame(frame)
