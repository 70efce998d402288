"""`/ws/agent`: a device's connection — handshake (enroll or prove its key), help requests, and the
agent's side of a support session.

The agent's link owns the session's state (lifecycle, actions) because every action ends at the agent:
engineer frames reach it through the bus (`Note` kinds `engineer.frame`, `engineer.chunk`, `offer`,
`engineer.gone`, `kill`, `revoke`) and are checked here, audited, then written to the agent's socket.
Agent frames are checked, audited, then published to the session engineer's topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field, replace
from typing import cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.websockets import WebSocket

from protocol.auth import auth_transcript, b64url, b64url_decode
from protocol.codec import FileChunk, decode, decode_chunk
from protocol.directions import Peer
from protocol.errors import ProtocolError
from protocol.lifecycle import SessionState, advance_session, session_admits
from protocol.messages import (
    ActionRequest,
    ActionResult,
    AuthChallenge,
    AuthChallengeBody,
    AuthOk,
    AuthOkBody,
    AuthResponse,
    ConsentReply,
    EngineerIdentity,
    EnrollOk,
    EnrollOkBody,
    EnrollRequest,
    Envelope,
    Error,
    ErrorBody,
    Feedback,
    Hello,
    HelpQueued,
    HelpQueuedBody,
    HelpRefused,
    HelpRefusedBody,
    HelpRequest,
    Message,
    SessionEnd,
    SessionEndBody,
    SessionOffer,
    SessionOfferBody,
)
from server.audit import AuditWriteError, JsonValue
from server.db.tables import new_id, utcnow
from server.devices import store as devices
from server.relay.bus import Note, Subscription
from server.relay.link import (
    CLOSE_AUTH_FAILED,
    CLOSE_INTERNAL,
    CLOSE_REPLACED,
    CLOSE_REVOKED,
    SERVER_NAME,
    Link,
)
from server.relay.services import Services, agent_topic, engineer_topic, note_data
from server.relay.texts import REFUSALS
from server.tickets import store as tickets
from server.tickets.actions import ActionBook, ActionError
from server.tickets.lifecycle import Outcome, Party, TicketState, TransitionError, end
from server.tickets.store import Ticket

log = logging.getLogger("rme.relay.agent")

# Agent messages relayed to the engineer once checked (chat is relayed but not audited: it is the
# user's conversation, kept in the user's own session log on the agent).
AUDITED_FROM_AGENT = frozenset({"consent.reply", "action.result", "session.decline", "session.end"})


@dataclass
class Route:
    """The device's current ticket/session, as seen by the link that owns it."""

    ticket: Ticket
    engineer_id: str | None = None
    engineer_name: str = ""
    session: SessionState | None = None  # None until the offer is sent
    actions: ActionBook = field(default_factory=ActionBook)
    offer_timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> str:
        return self.ticket.session_id


class AgentLink(Link):
    remote = Peer.AGENT

    def __init__(self, ws: WebSocket, services: Services) -> None:
        super().__init__(ws, services)
        self.nonce: str | None = None
        self.device: devices.Device | None = None
        self.route: Route | None = None
        self.last_ended: str | None = None  # session id the user may still rate
        self.subscription: Subscription | None = None
        self.state_lock = asyncio.Lock()

    # -- handshake --------------------------------------------------------------------------------

    async def serve(self) -> None:
        await self.ws.accept()
        auth_deadline = asyncio.get_running_loop().call_later(
            self.services.config.auth_timeout, lambda: asyncio.ensure_future(self._auth_timeout())
        )
        try:
            await self.run()
        finally:
            auth_deadline.cancel()

    async def _auth_timeout(self) -> None:
        if self.device is None:
            await self.close(CLOSE_AUTH_FAILED, "authentication timed out")

    async def _challenge(self) -> None:
        self.nonce = b64url(secrets.token_bytes(32))
        await self.send(AuthChallenge(body=AuthChallengeBody(nonce=self.nonce)))

    async def handle(self, message: Message, text: str) -> None:
        if isinstance(message, Hello):
            await self.send(self.conn.welcome_for(message, SERVER_NAME, self._heartbeat_s()))
            await self._challenge()
        elif isinstance(message, AuthResponse):
            await self._authenticate(message)
        elif isinstance(message, EnrollRequest):
            await self._enroll(message)
        elif self.device is None:
            await self.drop("protocol", f"{message.type} before authentication", message.type)
        elif isinstance(message, HelpRequest):
            async with self.state_lock:
                await self._help(message)
        elif message.type == "error":
            log.info("agent reported an error", extra={"actor": self.actor, "error": text[:300]})
        else:
            async with self.state_lock:
                await self._from_agent(message, text)

    def _heartbeat_s(self) -> int:
        return max(1, int(self.services.config.heartbeat_timeout // 3))

    async def _fail_auth(self, kind: str, detail: str, device_id: str | None) -> None:
        self.services.metrics.dropped.labels("agent", "auth").inc()
        with contextlib.suppress(AuditWriteError):
            await self.services.record(kind, f"device:{device_id or 'unknown'}", None, {"reason": detail})
        await self.send_error("auth.failed", detail)
        await self.close(CLOSE_AUTH_FAILED, "authentication failed")

    async def _authenticate(self, message: AuthResponse) -> None:
        nonce, self.nonce = self.nonce, None  # single use, whatever happens next
        device_id = message.body.device_id
        if nonce is None:
            await self._fail_auth(
                "device.auth_failed", "no outstanding challenge (nonce already used)", device_id
            )
            return
        device = await devices.get_device(self.services.engine, device_id)
        if device is None:
            await self._fail_auth("device.auth_failed", "unknown device", device_id)
            return
        if device.revoked:
            await self._fail_auth("device.auth_failed", "device revoked", device_id)
            return
        try:
            signature = b64url_decode(message.body.signature)
            transcript = auth_transcript(nonce, self.services.channel_binding, device_id)
            Ed25519PublicKey.from_public_bytes(device.public_key).verify(signature, transcript)
        except (InvalidSignature, ValueError):
            await self._fail_auth("device.auth_failed", "signature does not verify", device_id)
            return
        try:
            await self.services.record(
                "device.connected", f"device:{device_id}", None, {"customer": device.customer_id}
            )
        except AuditWriteError:
            await self.close(CLOSE_INTERNAL, "audit unavailable")
            return
        self.device = device
        self.actor = f"device:{device_id}"
        await self.send(AuthOk(body=AuthOkBody(device_id=device_id, customer_id=device.customer_id)))
        await self._register()

    async def _register(self) -> None:
        assert self.device is not None
        services = self.services
        previous = services.agents.get(self.device.id)
        if previous is not None:  # the newest connection of a device wins
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        services.agents[self.device.id] = self
        services.metrics.agents.set(len(services.agents))
        self.subscription = await services.bus.subscribe(agent_topic(self.device.id), self.on_note)
        await devices.touch_device(services.engine, self.device.id)
        # A reconnecting agent resumes a ticket still waiting in the queue.
        open_ticket = await tickets.open_ticket_of_device(services.engine, self.device.id)
        if open_ticket is not None and open_ticket.state is TicketState.QUEUED:
            self.route = Route(open_ticket)

    async def _enroll(self, message: EnrollRequest) -> None:
        body = message.body
        try:
            public_key = b64url_decode(body.public_key)
            device = await devices.enroll_device(
                self.services.engine, body.code, public_key, body.device_name
            )
        except (ValueError, devices.DeviceError) as exc:
            code = exc.code if isinstance(exc, devices.DeviceError) else "enroll.bad_key"
            self.services.metrics.dropped.labels("agent", "enroll").inc()
            with contextlib.suppress(AuditWriteError):
                await self.services.record("device.enroll_failed", "device:unknown", None, {"reason": code})
            await self.send_error(code, str(exc))
            await self.close(CLOSE_AUTH_FAILED, "enrollment failed")
            return
        try:
            await self.services.record(
                "device.enrolled",
                f"device:{device.id}",
                None,
                {"customer": device.customer_id, "name": body.device_name, "os": body.os},
            )
        except AuditWriteError:
            await devices.revoke_device(self.services.engine, device.id)
            await self.send_error("server.unavailable", "enrollment could not be recorded")
            await self.close(CLOSE_INTERNAL, "audit unavailable")
            return
        await self.send(EnrollOk(body=EnrollOkBody(device_id=device.id, customer_id=device.customer_id)))
        # The new key is proven at once, like on every later connection.
        await self._challenge()

    # -- asking for help --------------------------------------------------------------------------

    async def _help(self, message: HelpRequest) -> None:
        assert self.device is not None
        services = self.services
        received = asyncio.get_running_loop().time()
        customer = await devices.get_customer(services.engine, self.device.customer_id)
        if customer.subscription != "active":
            await self._refuse(message, f"subscription.{customer.subscription}")
            return
        if self.route is not None:  # already waiting or in a session: answer with that ticket
            position = await tickets.queue_position(services.engine, self.route.ticket)
            await self.send(
                HelpQueued(body=HelpQueuedBody(ticket_id=self.route.ticket.id, position=position))
            )
            return
        body = message.body
        report_json = body.report.model_dump_json() if body.report else None
        ticket_id, session_id = new_id("t"), new_id("s")
        try:
            await services.record(
                "help.request",
                self.actor,
                session_id,
                {
                    "ticket": ticket_id,
                    "customer": customer.id,
                    "words": body.words,
                    "lang": body.lang,
                    "verdict": body.report.verdict if body.report else None,
                    "root_cause": body.report.root_cause if body.report else None,
                    "report_sha256": hashlib.sha256(report_json.encode()).hexdigest()
                    if report_json
                    else None,
                },
            )
        except AuditWriteError:
            await self._refuse(message, "server.unavailable", audited=False)
            return
        ticket = await tickets.create_ticket(
            services.engine,
            device_id=self.device.id,
            customer_id=customer.id,
            words=body.words,
            report=body.report,
            lang=body.lang,
            ticket_id=ticket_id,
            session_id=session_id,
        )
        self.route = Route(ticket)
        await services.publish_queue([ticket.id], [])
        services.metrics.notify.observe(asyncio.get_running_loop().time() - received)
        position = await tickets.queue_position(services.engine, ticket)
        await self.send(HelpQueued(body=HelpQueuedBody(ticket_id=ticket.id, position=position)))

    async def _refuse(self, message: HelpRequest, reason: str, audited: bool = True) -> None:
        self.services.metrics.help_refused.labels(reason).inc()
        if audited:
            try:
                await self.services.record("help.refused", self.actor, None, {"reason": reason})
            except AuditWriteError:
                reason = "server.unavailable"
        await self.send(HelpRefused(body=HelpRefusedBody(reason=reason, message=REFUSALS[reason])))

    # -- the session, agent side ------------------------------------------------------------------

    async def _from_agent(self, message: Message, text: str) -> None:
        msg_type = message.type
        route = self.route
        if isinstance(message, Feedback):
            await self._feedback(message)
            return
        if route is None or route.session is None or message.session != route.id:
            await self.drop("session", f"{msg_type} outside this device's session", msg_type, message.session)
            return
        if not session_admits(route.session, msg_type):
            await self.drop(
                "session", f"{msg_type} not allowed in a {route.session} session", msg_type, route.id
            )
            return
        action_event = _action_event(message)
        if action_event is not None:
            action_id, event = action_event
            try:
                route.actions.check(action_id, event)
            except ActionError as exc:
                await self.drop("action", str(exc), msg_type, route.id, message.id)
                return
        outcome: Outcome | None = None
        if isinstance(message, SessionEnd):
            try:
                outcome = Outcome(message.body.reason)
                end(route.ticket.state, outcome, Party.AGENT)
            except (ValueError, TransitionError) as exc:
                await self.drop("session", str(exc), msg_type, route.id, message.id)
                return
        elif msg_type == "session.decline":
            outcome = Outcome.DECLINED
        if msg_type in AUDITED_FROM_AGENT:
            try:
                await self.services.record(msg_type, self.actor, route.id, _audit_data(message))
            except AuditWriteError:
                await self.send_error("server.unavailable", "could not be recorded; not relayed", message.id)
                return
        if action_event is not None:
            route.actions.advance(*action_event)
        if msg_type == "session.accept" and not await self._activate(route):
            return
        await self._to_engineer(route, Note("frame", self.actor, route.id, text))
        if outcome is not None:
            await self._finish(route, outcome, notify_agent=False, notify_engineer=False)
        else:
            self.services.count_relayed(msg_type)

    async def _activate(self, route: Route) -> bool:
        if route.offer_timer is not None:
            route.offer_timer.cancel()
        try:
            await self.services.record(
                "session.accept", self.actor, route.id, {"engineer": route.engineer_id}
            )
        except AuditWriteError:
            await self.send_error("server.unavailable", "session start could not be recorded")
            return False
        ok = await tickets.move(
            self.services.engine,
            route.ticket.id,
            TicketState.OFFERED,
            TicketState.ACTIVE,
            started_at=utcnow(),
        )
        if not ok:
            await self.drop("session", "the offer is no longer open", "session.accept", route.id)
            return False
        route.session = advance_session(route.session or SessionState.OFFERED, "session.accept")
        route.ticket = _with_state(route.ticket, TicketState.ACTIVE)
        await self.services.publish_queue([route.ticket.id], [])
        return True

    async def _feedback(self, message: Feedback) -> None:
        assert self.device is not None
        session = message.session
        if session is None or session != self.last_ended:
            await self.drop(
                "session", "feedback only for this device's last ended session", "feedback", session
            )
            return
        try:
            await self.services.record(
                "feedback",
                self.actor,
                session,
                {"rating": message.body.rating, "comment": message.body.comment},
            )
        except AuditWriteError:
            return
        await tickets.record_feedback(self.services.engine, session, self.device.id, message.body.rating)
        self.last_ended = None

    async def _to_engineer(self, route: Route, note: Note) -> None:
        if route.engineer_id is not None:
            await self.services.bus.publish(engineer_topic(route.engineer_id), note)

    # -- notes from engineers (through the bus) -------------------------------------------------

    async def on_note(self, note: Note) -> None:
        async with self.state_lock:
            if note.kind == "engineer.frame":
                await self._engineer_frame(note)
            elif note.kind == "engineer.chunk":
                await self._engineer_chunk(note)
            elif note.kind == "offer":
                await self._offer(note)
            elif note.kind == "engineer.gone" and self.route and self.route.id == note.session:
                await self._finish(self.route, Outcome.CONNECTION_LOST, actor="system", notify_engineer=False)
            elif note.kind == "kill" and self.route and self.route.id == note.session:
                await self._finish(
                    self.route,
                    Outcome.ENDED_BY_ENGINEER,
                    actor=note.sender,
                    note_text="ended by a supervisor",
                )
            elif note.kind == "revoke":
                await self.close(CLOSE_REVOKED, "device revoked")

    async def _refuse_engineer(self, note: Note, code: str, detail: str, ref: str | None) -> None:
        self.services.metrics.dropped.labels("engineer", code.rsplit(".", maxsplit=1)[-1]).inc()
        with contextlib.suppress(AuditWriteError):
            await self.services.record(
                "relay.frame_dropped", note.sender, note.session, {"reason": code, "detail": detail[:300]}
            )
        data = json.dumps({"code": code, "message": detail[:256], "ref": ref})
        if note.reply_to:
            await self.services.bus.publish(note.reply_to, Note("error", "server", note.session, data=data))

    async def _engineer_frame(self, note: Note) -> None:
        message: Message
        if isinstance(note.message, Envelope):
            message = cast("Message", note.message)
        else:
            try:
                message = decode(note.frame)
            except ProtocolError as exc:
                await self._refuse_engineer(note, "frame.dropped", exc.reason, None)
                return
        route = self.route
        if (
            route is None
            or route.id != note.session
            or route.engineer_id is None
            or note.reply_to != engineer_topic(route.engineer_id)
            or route.session is None
        ):
            await self._refuse_engineer(
                note, "session.not_yours", "no such session for this engineer", message.id
            )
            return
        msg_type = message.type
        if not session_admits(route.session, msg_type):
            await self._refuse_engineer(
                note, "session.state", f"{msg_type} not allowed in a {route.session} session", message.id
            )
            return
        if isinstance(message, SessionEnd):
            try:
                outcome = Outcome(message.body.reason)
                end(route.ticket.state, outcome, Party.ENGINEER)
            except (ValueError, TransitionError) as exc:
                await self._refuse_engineer(note, "session.state", str(exc), message.id)
                return
            await self._finish(
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
                await self._refuse_engineer(note, "action.refused", str(exc), message.id)
                return
            try:
                await self.services.record("action.request", note.sender, route.id, _audit_data(message))
            except AuditWriteError:
                route.actions.cancel_all()
                await self._refuse_engineer(
                    note, "server.unavailable", "could not be recorded; not relayed", message.id
                )
                return
        self.services.count_relayed(msg_type)
        await self.send_frame(note.frame if isinstance(note.frame, str) else note.frame.decode())

    async def _engineer_chunk(self, note: Note) -> None:
        route = self.route
        frame = note.frame if isinstance(note.frame, bytes) else note.frame.encode()
        try:
            chunk = decode_chunk(frame)
        except ProtocolError as exc:
            await self._refuse_engineer(note, "frame.dropped", exc.reason, None)
            return
        if (
            route is None
            or route.id != note.session
            or route.engineer_id is None
            or note.reply_to != engineer_topic(route.engineer_id)
        ):
            await self._refuse_engineer(note, "session.not_yours", "no such session for this engineer", None)
            return
        try:
            action = route.actions.check_chunk(chunk.action_id, chunk.offset, len(chunk.payload), chunk.last)
        except ActionError as exc:
            await self._refuse_engineer(note, "action.refused", str(exc), chunk.action_id)
            return
        route.actions.take_chunk(action, chunk.payload)
        if chunk.last:
            digest = action.digest.hexdigest()
            try:
                await self.services.record(
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
                await self._refuse_engineer(
                    note, "server.unavailable", "could not be recorded; not relayed", action.id
                )
                return
            if digest != action.file_sha256:
                mismatch = "file does not match its announced SHA-256"
                await self._refuse_engineer(note, "action.refused", mismatch, action.id)
                # The agent deletes its partial file now instead of waiting out its idle timeout.
                rejected = ErrorBody(code="file.rejected", message=mismatch, ref=action.id)
                await self.send(Error(session=route.id, body=rejected))
                return
        self.services.count_relayed("chunk")
        await self.send_frame(frame)

    async def _offer(self, note: Note) -> None:
        fields = note_data(note)
        route = self.route
        if route is None or route.ticket.id != fields.get("ticket") or route.session is not None:
            stale = await tickets.get_ticket(self.services.engine, ticket_id=fields.get("ticket", ""))
            if stale is not None and stale.state is TicketState.ACCEPTED:
                await tickets.finish(self.services.engine, stale, Outcome.CONNECTION_LOST)
                await self.services.publish_queue([], [stale.id])
            await self.services.bus.publish(
                engineer_topic(fields.get("engineer", "")),
                Note(
                    "error",
                    "server",
                    note.session,
                    data=json.dumps({"code": "ticket.gone", "message": "the user is no longer waiting"}),
                ),
            )
            return
        moved = await tickets.move(
            self.services.engine, route.ticket.id, TicketState.ACCEPTED, TicketState.OFFERED
        )
        if not moved:
            return
        route.ticket = _with_state(route.ticket, TicketState.OFFERED)
        route.engineer_id = fields["engineer"]
        route.engineer_name = fields.get("name", "")
        route.session = SessionState.OFFERED
        engineer = EngineerIdentity(id=route.engineer_id, name=route.engineer_name[:256])
        await self.send(
            SessionOffer(
                session=route.id, body=SessionOfferBody(ticket_id=route.ticket.id, engineer=engineer)
            )
        )
        loop = asyncio.get_running_loop()
        route.offer_timer = loop.call_later(
            self.services.config.offer_timeout, lambda: asyncio.ensure_future(self._offer_expired(route))
        )
        await self.services.publish_queue([route.ticket.id], [])

    async def _offer_expired(self, route: Route) -> None:
        async with self.state_lock:
            if self.route is route and route.session is SessionState.OFFERED:
                await self._finish(route, Outcome.TIMED_OUT, actor="system")

    # -- ending -----------------------------------------------------------------------------------

    async def _finish(
        self,
        route: Route,
        outcome: Outcome,
        *,
        actor: str | None = None,
        resolution: str | None = None,
        note_text: str | None = None,
        notify_agent: bool = True,
        notify_engineer: bool = True,
    ) -> None:
        """End the ticket: audit, store, cancel open actions, tell the sides that did not end it."""
        if route.offer_timer is not None:
            route.offer_timer.cancel()
        if actor is not None:  # ends the agent itself asked for were recorded by the caller
            with contextlib.suppress(AuditWriteError):  # ending is never refused: the kill switch must work
                await self.services.record(
                    "session.end",
                    actor,
                    route.id,
                    {
                        "reason": outcome.value,
                        "resolution": resolution,
                        "note": note_text,
                        "ticket": route.ticket.id,
                    },
                )
        await tickets.finish(self.services.engine, route.ticket, outcome, resolution)
        self.services.metrics.tickets.labels(outcome.value).inc()
        route.actions.cancel_all()
        if self.route is route:
            self.route = None
        self.last_ended = route.id
        end_message = SessionEnd(
            session=route.id, body=SessionEndBody(reason=outcome.value, resolution=resolution)
        )
        if notify_agent and route.session is not None and not self.closed:
            await self.send(end_message)
        if route.engineer_id is not None:
            if notify_engineer:
                await self._to_engineer(
                    route, Note("frame", "server", route.id, end_message.model_dump_json())
                )
            await self._to_engineer(route, Note("session.closed", "server", route.id))
        await self.services.publish_queue([], [route.ticket.id])

    async def on_close(self) -> None:
        services = self.services
        if self.subscription is not None:
            await self.subscription.cancel()
        if self.device is not None and services.agents.get(self.device.id) is self:
            del services.agents[self.device.id]
            services.metrics.agents.set(len(services.agents))
        async with self.state_lock:
            if self.route is not None:
                await self._finish(self.route, Outcome.CONNECTION_LOST, actor="system", notify_agent=False)
        if self.device is not None:
            with contextlib.suppress(AuditWriteError):
                await services.record("device.disconnected", self.actor, None, {})


def _action_event(message: Message) -> tuple[str, str] | None:
    """The (action id, lifecycle event) an agent message means, if it is about an action."""
    if message.type == "consent.request":
        return message.body.action_id, "consent.request"
    if isinstance(message, ConsentReply):
        return message.body.action_id, f"consent.reply:{message.body.decision}"
    if message.type == "action.progress":
        return message.body.action_id, "action.progress"
    if isinstance(message, ActionResult):
        return message.body.action_id, f"action.result:{message.body.status}"
    return None


def _audit_data(message: Message) -> dict[str, JsonValue]:
    """What the audit keeps of a relayed message: its id and body (bounded by the protocol's limits)."""
    data: dict[str, JsonValue] = {"message": message.id}
    data.update(message.body.model_dump(mode="json"))
    return data


def _with_state(ticket: Ticket, state: TicketState) -> Ticket:
    return replace(ticket, state=state)


__all__ = ["AgentLink", "FileChunk"]
