"""`/ws/agent` once the device is authenticated (`DeviceLink`): its help requests and the agent's side
of a support session.

The agent's link owns the session's state (lifecycle, actions) because every action ends at the agent:
engineer frames reach it through the bus (`Note` kinds `engineer.frame`, `engineer.chunk`, `offer`,
`engineer.away`, `engineer.back`, `kill`, `revoke`) and are checked (`engineer_frames`), audited, then
written to the agent's socket. Agent frames are checked, audited, then published to the session
engineer's topic. When the engineer's console connection goes away the session waits `engineer_grace`
seconds for a connection of the same engineer to come back before it ends as `connection_lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import replace

from starlette.websockets import WebSocket

from protocol.codec import FileChunk
from protocol.lifecycle import SessionState, advance_session, session_admits
from protocol.messages import (
    EngineerIdentity,
    Error,
    ErrorBody,
    Feedback,
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
from server.audit.keeper import session_evidence
from server.db.tables import new_id, utcnow
from server.devices import store as devices
from server.relay.bus import Note, Subscription
from server.relay.device_link import DeviceLink
from server.relay.engineer_frames import relay_engineer_chunk, relay_engineer_frame
from server.relay.link import CLOSE_REPLACED, CLOSE_REVOKED
from server.relay.route import Route, action_event_of, audit_data, with_state
from server.relay.services import Services, agent_topic, engineer_topic, note_data
from server.relay.texts import REFUSALS
from server.tickets import store as tickets
from server.tickets.actions import ActionError
from server.tickets.lifecycle import Outcome, Party, TicketState, TransitionError, end

log = logging.getLogger("rme.relay.agent")

# Agent messages relayed to the engineer once checked (chat is relayed but not audited: it is the
# user's conversation, kept in the user's own session log on the agent).
AUDITED_FROM_AGENT = frozenset({"consent.reply", "action.result", "session.decline", "session.end"})
# Sent to the agent (`file.rejected`) for a push whose sender went away: it deletes the partial file.
PUSH_STOPPED = "the engineer's connection dropped during the transfer"


class AgentLink(DeviceLink):
    def __init__(self, ws: WebSocket, services: Services) -> None:
        super().__init__(ws, services)
        self.route: Route | None = None
        self.last_ended: str | None = None  # session id the user may still rate
        self.subscription: Subscription | None = None
        self.state_lock = asyncio.Lock()

    async def handle_authenticated(self, message: Message, text: str) -> None:
        if isinstance(message, HelpRequest):
            async with self.state_lock:
                await self._help(message)
        elif message.type == "error":
            log.info("agent reported an error", extra={"actor": self.actor, "error": text[:300]})
        else:
            async with self.state_lock:
                await self._from_agent(message, text)

    async def on_authenticated(self) -> None:
        assert self.device is not None
        services = self.services
        previous = services.agents.get(self.device.id)
        if previous is not None:  # the newest connection of a device wins
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        services.agents[self.device.id] = self
        services.metrics.agents.set(len(services.agents))
        self.subscription = await services.bus.subscribe(agent_topic(self.device.id), self.on_note)
        await devices.touch_device(services.engine, self.device.id)
        # A reconnecting agent resumes a ticket still waiting in the queue, and this node takes it over
        # (atomically: a node sweeping it as orphaned, or another connection, may be taking it too).
        open_ticket = await tickets.open_ticket_of_device(services.engine, self.device.id)
        if (
            open_ticket is not None
            and open_ticket.state is TicketState.QUEUED
            and await tickets.adopt(services.engine, open_ticket, services.node_id)
        ):
            self.route = Route(replace(open_ticket, node_id=services.node_id))

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
            node_id=services.node_id,
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
        action_event = action_event_of(message)
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
                await self.services.record(msg_type, self.actor, route.id, audit_data(message))
            except AuditWriteError:
                await self.send_error("server.unavailable", "could not be recorded; not relayed", message.id)
                return
        if action_event is not None:
            route.actions.advance(*action_event)
        if msg_type == "session.accept" and not await self._activate(route):
            return
        await self._to_engineer(route, Note("frame", self.actor, route.id, text))
        if outcome is not None:
            await self.finish(route, outcome, notify_agent=False, notify_engineer=False)
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
        route.ticket = with_state(route.ticket, TicketState.ACTIVE)
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
                await relay_engineer_frame(self, note)
            elif note.kind == "engineer.chunk":
                await relay_engineer_chunk(self, note)
            elif note.kind == "offer":
                await self._offer(note)
            elif note.kind == "engineer.away":
                await self._engineer_away(note)
            elif note.kind == "engineer.back":
                await self._engineer_back(note)
            elif note.kind == "kill" and self.route and self.route.id == note.session:
                await self.finish(
                    self.route,
                    Outcome.ENDED_BY_ENGINEER,
                    actor=note.sender,
                    note_text="ended by a supervisor",
                )
            elif note.kind == "revoke":
                await self.close(CLOSE_REVOKED, "device revoked")

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
        route.ticket = with_state(route.ticket, TicketState.OFFERED)
        route.engineer_id = fields["engineer"]
        route.engineer_name = fields.get("name", "")
        route.engineer_link = fields.get("link")
        route.engineer_node = fields.get("node")
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
                await self.finish(route, Outcome.TIMED_OUT, actor="system")

    # -- the engineer's console going away and coming back ----------------------------------------

    def _engineers_route(self, note: Note) -> Route | None:
        """This device's session if `note` is about it and comes from its engineer."""
        route = self.route
        if (
            route is None
            or route.id != note.session
            or route.engineer_id is None
            or route.session is None
            or note.reply_to != engineer_topic(route.engineer_id)
        ):
            return None
        return route

    async def _engineer_away(self, note: Note) -> None:
        route = self._engineers_route(note)
        link = note_data(note).get("link")
        if route is None or link is None or route.grace_timer is not None:
            return  # not this session's, or its engineer is away already
        if route.engineer_link not in (None, link):  # None: offered by a node that did not say which
            return  # from an older connection that no longer holds the session
        await self._wait_for_engineer(route, link, note.sender, {})

    async def engineer_node_lost(self, node: str) -> None:
        """The server node holding the engineer's console connection died (`server.relay.nodes`): that
        connection is gone without having said so, so the session waits for the engineer as if it had."""
        async with self.state_lock:
            route = self.route
            if route is None or route.session is None or route.engineer_node != node:
                return
            if route.grace_timer is not None:
                return  # the engineer is away already
            await self._wait_for_engineer(route, route.engineer_link or "", "system", {"node_lost": node})

    async def _wait_for_engineer(
        self, route: Route, link: str, actor: str, detail: dict[str, JsonValue]
    ) -> None:
        """Start the `engineer_grace` wait for the engineer's console (or end at once without one)."""
        route.engineer_link = link
        grace = self.services.config.engineer_grace
        if grace <= 0:  # no waiting: the session ends with the connection that held it
            await self.finish(route, Outcome.CONNECTION_LOST, actor="system")
            return
        stopped = await self._stop_pushes(route)
        with contextlib.suppress(AuditWriteError):  # waiting is not refusable: the end comes anyway
            await self.services.record(
                "session.engineer_away",
                actor,
                route.id,
                {"link": link, "grace_s": grace, "stopped_pushes": list(stopped), **detail},
            )
        route.grace_timer = asyncio.get_running_loop().call_later(
            grace, lambda: asyncio.ensure_future(self._grace_expired(route, link))
        )

    async def _stop_pushes(self, route: Route) -> list[str]:
        """File pushes in flight cannot go on without the connection that was sending them: the agent is
        told at once, so it deletes the partial file now instead of at its idle timeout."""
        stopped = route.actions.pushes_in_flight()
        for action_id in stopped:
            body = ErrorBody(code="file.rejected", message=PUSH_STOPPED, ref=action_id)
            await self.send(Error(session=route.id, body=body))
        return stopped

    async def _engineer_back(self, note: Note) -> None:
        route = self._engineers_route(note)
        link = note_data(note).get("link")
        if route is None or link is None:
            if note.reply_to and note.session is not None:  # the session ended meanwhile
                await self.services.bus.publish(note.reply_to, Note("session.closed", "server", note.session))
            return
        if route.grace_timer is not None:
            route.grace_timer.cancel()
            route.grace_timer = None
        previous, route.engineer_link = route.engineer_link, link
        route.engineer_node = note_data(note).get("node")  # None from a node that does not say: not watched
        with contextlib.suppress(AuditWriteError):
            await self.services.record(
                "session.engineer_back", note.sender, route.id, {"link": link, "previous": previous}
            )

    async def _grace_expired(self, route: Route, link: str) -> None:
        async with self.state_lock:
            if self.route is route and route.grace_timer is not None and route.engineer_link == link:
                route.grace_timer = None
                # Told to the engineer too: another console of theirs may be open without holding it.
                await self.finish(route, Outcome.CONNECTION_LOST, actor="system")

    # -- ending -----------------------------------------------------------------------------------

    async def finish(
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
        if route.grace_timer is not None:
            route.grace_timer.cancel()
            route.grace_timer = None
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
        session_evidence(self.services.audit, route.id, self)  # the user's copy of the audit proof
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
                await self.finish(self.route, Outcome.CONNECTION_LOST, actor="system", notify_agent=False)
        if self.device is not None:
            with contextlib.suppress(AuditWriteError):
                await services.record("device.disconnected", self.actor, None, {})


__all__ = ["AgentLink", "FileChunk"]
