"""`/ws/agent` once the device is authenticated (`DeviceLink`): its help requests, and the thin loop
around the device's support session (`server.relay.session.RelaySession`).

The agent's link holds the session because every action ends at the agent. Events reach it from the
agent's socket and, through the bus, from engineers (`server.relay.notes`): each is handed to the
session core, which decides; `_carry_out` does what it decided, in the order `server.relay.decisions`
gives (refuse; keep output and record; persist the ticket's move; commit; effects). Every end of a
session passes through `_finish`, and `_ended` is the one place that runs once a session is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from dataclasses import replace
from typing import cast

from starlette.websockets import WebSocket

from protocol.codec import FileChunk, decode, decode_chunk
from protocol.errors import ProtocolError
from protocol.messages import (
    CatalogueRequest,
    Envelope,
    Feedback,
    HelpQueued,
    HelpQueuedBody,
    HelpRefused,
    HelpRefusedBody,
    HelpRequest,
    Message,
    RecordsRequest,
)
from protocol.screen import ScreenFrame
from server.audit import AuditWriteError
from server.audit.keeper import session_evidence
from server.billing import entitle, service_record
from server.db.tables import new_id
from server.devices import store as devices
from server.devices.rescue import is_rescue_device
from server.relay import queue
from server.relay.bus import Subscription
from server.relay.decisions import (
    CancelTimer,
    Decision,
    Effect,
    Finish,
    QueueChanged,
    Refuse,
    SendAgent,
    SetServiceItem,
    StartTimer,
    TellClosed,
    Timer,
    ToAgent,
    ToEngineer,
)
from server.relay.device_link import DeviceLink
from server.relay.link import CLOSE_REPLACED, CLOSE_REVOKED
from server.relay.notes import Note, NoteKind, Offer, Refusal, agent_topic, engineer_topic
from server.relay.services import Services
from server.relay.session import RelaySession, not_yours, refuse_engineer
from server.relay.texts import REFUSALS
from server.tickets import outputs
from server.tickets import store as tickets
from server.tickets.lifecycle import Outcome, Party, TicketState, end
from server.tickets.ticket import Ticket

log = logging.getLogger("rme.relay.agent")


class AgentLink(DeviceLink):
    def __init__(self, ws: WebSocket, services: Services) -> None:
        super().__init__(ws, services)
        self.session: RelaySession | None = None
        self.last_ended: str | None = None  # session id the user may still rate
        self.subscription: Subscription | None = None
        self.state_lock = asyncio.Lock()
        self.timers: dict[Timer, asyncio.TimerHandle] = {}

    def _core(self, ticket: Ticket) -> RelaySession:
        config = self.services.config
        return RelaySession(ticket, offer_timeout=config.offer_timeout, engineer_grace=config.engineer_grace)

    async def handle_authenticated(self, message: Message, text: str) -> None:
        if isinstance(message, HelpRequest):
            async with self.state_lock:
                await self._help(message)
        elif isinstance(message, CatalogueRequest):
            await self._catalogue()
        elif isinstance(message, RecordsRequest):
            await self._records(message)
        elif message.type == "error":
            log.info("agent reported an error", extra={"actor": self.actor, "error": text[:300]})
        elif isinstance(message, Feedback):
            async with self.state_lock:
                await self._feedback(message)
        else:
            async with self.state_lock:
                if self.session is None:
                    await self.drop("session", f"{message.type} outside this device's session", message.type)
                else:
                    await self._carry_out(self.session, self.session.agent_frame(message, text))

    async def handle_screen(self, frame: ScreenFrame, data: bytes) -> None:
        """A screen frame: relayed only for a running screen view of this device's active session."""
        if self.device is None:
            await self.drop("protocol", "screen frame before authentication", "screen.frame")
            return
        async with self.state_lock:
            if self.session is None:
                await self.drop("session", "screen frame outside this device's session", "screen.frame")
            else:
                await self._carry_out(self.session, self.session.agent_screen(frame, data))

    async def on_authenticated(self) -> None:
        assert self.device is not None
        services = self.services
        previous = services.agents.get(self.device.id)
        if previous is not None:  # the newest connection of a device wins
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        services.agents[self.device.id] = self
        services.metrics.agents.set(len(services.agents))
        self.subscription = await services.bus.subscribe(agent_topic(self.device.id), self.on_note)
        services.seen.add(self.device.id)  # `last_seen`, written in batches (`server.devices.seen`)
        # A reconnecting agent resumes a ticket still waiting in the queue, and this node takes it over
        # (atomically: a node sweeping it as orphaned, or another connection, may be taking it too).
        open_ticket = await tickets.open_ticket_of_device(services.engine, self.device.id)
        if (
            open_ticket is not None
            and open_ticket.state is TicketState.QUEUED
            and await tickets.adopt(services.engine, open_ticket, services.node_id)
        ):
            self.session = self._core(replace(open_ticket, node_id=services.node_id))

    def session_for(self, text: str | None) -> str | None:
        return self.session.id if self.session is not None else None

    def engineer_node(self) -> str | None:
        session = self.session
        return session.engineer.node if session is not None and session.engineer is not None else None

    # -- asking for help --------------------------------------------------------------------------

    async def _help(self, message: HelpRequest) -> None:
        assert self.device is not None
        services = self.services
        received = asyncio.get_running_loop().time()
        body = message.body
        now = dt.datetime.now(dt.UTC)
        # Both reads at once (one round trip's wait, not two): the entitlement is wasted only when the
        # subscription refuses or the device already has a ticket.
        customer, entitlement = await asyncio.gather(
            devices.get_customer(services.engine, self.device.customer_id),
            entitle.check(services.engine, self.device.customer_id, body.service_item, now),
        )
        if customer.subscription != "active":
            await self._refuse_help(f"subscription.{customer.subscription}")
            return
        if self.session is not None:  # already waiting or in a session: answer with that ticket
            position = await tickets.queue_position(services.engine, self.session.ticket)
            await self.send(
                HelpQueued(body=HelpQueuedBody(ticket_id=self.session.ticket.id, position=position))
            )
            return
        if entitlement is not None and not entitlement.allowed:
            await self._refuse_help(entitlement.code)
            return
        item = body.service_item if entitlement is not None else None  # billing off: no items
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
                    "service_item": item,
                    "price_cents": entitlement.price_cents if entitlement is not None and item else None,
                },
            )
        except AuditWriteError:
            await self._refuse_help("server.unavailable", audited=False)
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
            service_item=item,
        )
        self.session = self._core(ticket)
        summary = tickets.new_summary(
            ticket, customer.name, customer.subscription, rescue=is_rescue_device(self.device.name)
        )
        await queue.push(services.bus, [summary])
        services.metrics.notify.observe(asyncio.get_running_loop().time() - received)
        position = await tickets.queue_position(services.engine, ticket)
        await self.send(HelpQueued(body=HelpQueuedBody(ticket_id=ticket.id, position=position)))

    async def _refuse_help(
        self, reason: str, audited: bool = True, session: str | None = None, ticket: str | None = None
    ) -> None:
        self.services.metrics.help_refused.labels(reason).inc()
        if audited:
            data = {"reason": reason} if ticket is None else {"reason": reason, "ticket": ticket}
            try:
                await self.services.record("help.refused", self.actor, session, data)
            except AuditWriteError:
                reason = "server.unavailable"
        await self.send(HelpRefused(body=HelpRefusedBody(reason=reason, message=REFUSALS[reason])))

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

    # -- notes from engineers (through the bus) -------------------------------------------------

    async def on_note(self, note: Note) -> None:
        async with self.state_lock:
            session = self.session
            kind = note.kind
            if kind is NoteKind.ENGINEER_FRAME:
                await self._engineer_frame(session, note)
            elif kind is NoteKind.ENGINEER_CHUNK:
                await self._engineer_chunk(session, note)
            elif kind is NoteKind.OFFER:
                assert isinstance(note.payload, Offer)
                if session is None or not session.takes_offer(note.payload):
                    await self._stale_offer(note, note.payload)
                elif await self._may_start(session, note, note.payload):
                    await self._carry_out(session, session.offer(note.payload))
            elif kind is NoteKind.ENGINEER_AWAY:
                if session is not None:
                    await self._carry_out(session, session.engineer_away(note))
            elif kind is NoteKind.ENGINEER_BACK:
                decision = RelaySession.not_here(note) if session is None else session.engineer_back(note)
                await self._carry_out(session, decision)
            elif kind is NoteKind.KILL:
                if session is not None:
                    await self._carry_out(session, session.kill(note))
            elif kind is NoteKind.REVOKE:
                await self.close(CLOSE_REVOKED, "device revoked")

    async def _engineer_frame(self, session: RelaySession | None, note: Note) -> None:
        if isinstance(note.message, Envelope):
            message = cast("Message", note.message)
        else:
            try:
                message = decode(note.frame)
            except ProtocolError as exc:
                await self._refuse(session, refuse_engineer(note, "frame.dropped", exc.reason))
                return
        if session is None:
            await self._refuse(session, not_yours(note, message.id))
            return
        await self._carry_out(session, session.engineer_frame(note, message))

    async def _engineer_chunk(self, session: RelaySession | None, note: Note) -> None:
        frame = note.frame if isinstance(note.frame, bytes) else note.frame.encode()
        try:
            chunk = decode_chunk(frame)
        except ProtocolError as exc:
            await self._refuse(session, refuse_engineer(note, "frame.dropped", exc.reason))
            return
        if session is None:
            await self._refuse(session, not_yours(note))
            return
        await self._carry_out(session, session.engineer_chunk(note, chunk, frame))

    async def _may_start(self, session: RelaySession, note: Note, offer: Offer) -> bool:
        """Entitlement again as an engineer starts the session (the BSS may have suspended the customer,
        or the month's allowance run out, while the user waited). Refused: the ticket ends as
        `not_entitled`, the user reads why, the engineer is told. A session already running is not
        checked again: a suspension during a session lets it finish."""
        services = self.services
        ticket = session.ticket
        entitlement = await entitle.check(
            services.engine, ticket.customer_id, ticket.service_item, dt.datetime.now(dt.UTC)
        )
        if entitlement is None or entitlement.allowed:
            return True
        await tickets.transition(services.engine, ticket.id, end(None, Outcome.NOT_ENTITLED, Party.SERVER))
        self.session = None
        await queue.announce(services.engine, services.bus, removed=[ticket.id])
        gone = Refusal(code="ticket.not_entitled", message=f"not entitled: {entitlement.code}")
        await services.bus.publish(
            engineer_topic(offer.engineer), Note(NoteKind.ERROR, "server", note.session, payload=gone)
        )
        await self._refuse_help(entitlement.code, session=session.id, ticket=ticket.id)
        return False

    async def _catalogue(self) -> None:
        """The service items this customer may pick, each with its price or "included" (事前可选)."""
        assert self.device is not None
        services = self.services
        offered = await entitle.offered(services.engine, self.device.customer_id, dt.datetime.now(dt.UTC))
        await self.send(service_record.catalogue_message(offered, REFUSALS))

    async def _records(self, message: RecordsRequest) -> None:
        """This device's service records, each a receipt signed by the server (事后可查)."""
        assert self.device is not None
        receipts = await service_record.receipts_of_device(
            self.services.engine, self.services.audit, self.device.id, message.body.limit
        )
        await self.send(service_record.records_message(receipts))

    async def _stale_offer(self, note: Note, offer: Offer) -> None:
        """An offer for a ticket this device no longer waits with (it left, or asked again): end the
        stale ticket if it is still only accepted, and tell the engineer the user is gone."""
        services = self.services
        stale = await tickets.get_ticket(services.engine, ticket_id=offer.ticket)
        if stale is not None and stale.state is TicketState.ACCEPTED:
            move = end(stale.state, Outcome.CONNECTION_LOST, Party.SERVER)
            await tickets.transition(services.engine, stale.id, move)
            await queue.announce(services.engine, services.bus, removed=[stale.id])
        gone = Refusal(code="ticket.gone", message="the user is no longer waiting")
        await services.bus.publish(
            engineer_topic(offer.engineer), Note(NoteKind.ERROR, "server", note.session, payload=gone)
        )

    # -- the engineer's console's node dying, and timers -------------------------------------------

    async def engineer_node_lost(self, node: str) -> None:
        """The server node holding the engineer's console connection died (`server.relay.nodes`)."""
        async with self.state_lock:
            if self.session is not None:
                await self._carry_out(self.session, self.session.engineer_node_lost(node))

    async def _expired(self, session: RelaySession, timer: Timer, link: str | None) -> None:
        async with self.state_lock:
            if self.session is session:
                self.timers.pop(timer, None)
                await self._carry_out(session, session.timeout(timer, link))

    def _start(self, session: RelaySession, effect: StartTimer) -> None:
        self._cancel(effect.timer)
        self.timers[effect.timer] = asyncio.get_running_loop().call_later(
            effect.seconds, lambda: asyncio.ensure_future(self._expired(session, effect.timer, effect.link))
        )

    def _cancel(self, timer: Timer) -> None:
        handle = self.timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    # -- carrying out the core's decisions ------------------------------------------------------------

    async def _carry_out(self, session: RelaySession | None, decision: Decision) -> None:
        if decision.refusal is not None:
            await self._refuse(session, decision.refusal)
            return
        if session is None:  # only a note for a session this device no longer has (effects only)
            for effect in decision.effects:
                await self._effect(None, effect)
            return
        if not await self._write(session, decision):
            return
        session.commit(decision)
        for effect in decision.effects:
            await self._effect(session, effect)
        if decision.ends is not None:
            await self._ended(session, decision.ends)

    async def _write(self, session: RelaySession, decision: Decision) -> bool:
        """Make the decision's writes durable (output, audit event, ticket move); False if refused."""
        services = self.services
        if decision.record is not None:
            try:
                kept = decision.output
                if kept is not None:
                    await outputs.keep(
                        services.engine,
                        session.id,
                        message_id=kept.message_id,
                        action_id=kept.action_id,
                        sha256=kept.sha256,
                        size=kept.size,
                        text=kept.text,
                        retention_s=services.config.output_retention,
                    )
                record = decision.record
                await services.record(record.kind, record.actor, session.id, record.data)
            except AuditWriteError:
                if decision.must_record:
                    if decision.unrecorded is not None:
                        await self._refuse(session, decision.unrecorded)
                    return False
            except Exception:  # the output store failed: not kept, so not relayed either
                log.exception("could not keep a command output", extra={"session": session.id})
                if decision.must_record:
                    if decision.unrecorded is not None:
                        await self._refuse(session, decision.unrecorded)
                    return False
        lost = decision.move is not None and not await tickets.transition(
            services.engine, session.ticket.id, decision.move
        )
        if lost and decision.if_lost is not None:  # no `if_lost`: the move losing changes nothing here
            await self._refuse(session, decision.if_lost)
            return False
        return True

    async def _effect(self, session: RelaySession | None, effect: Effect) -> None:
        services = self.services
        if isinstance(effect, ToAgent):
            services.count_relayed(effect.counted)
            await self.send_frame(effect.frame)
        elif isinstance(effect, ToEngineer):
            if effect.counted is not None:
                services.count_relayed(effect.counted)
            sid = session.id if session is not None else None
            await services.bus.publish(effect.topic, Note(NoteKind.FRAME, effect.sender, sid, effect.frame))
        elif isinstance(effect, SendAgent):
            if not self.closed:
                await self.send(effect.message)
        elif isinstance(effect, TellClosed):
            await services.bus.publish(effect.topic, Note(NoteKind.SESSION_CLOSED, "server", effect.session))
        elif isinstance(effect, QueueChanged):
            if effect.removed:
                await queue.announce(services.engine, services.bus, removed=[effect.ticket_id])
            else:
                await queue.announce(services.engine, services.bus, changed=[effect.ticket_id])
        elif isinstance(effect, StartTimer):
            assert session is not None
            self._start(session, effect)
        elif isinstance(effect, CancelTimer):
            self._cancel(effect.timer)
        elif isinstance(effect, Refuse):
            await self._refuse(session, effect)
        elif isinstance(effect, Finish):
            assert session is not None
            await self._finish(session, effect)
        elif isinstance(effect, SetServiceItem):
            assert session is not None
            await self._set_item(session, effect.item)

    async def _set_item(self, session: RelaySession, item: str) -> None:
        """The user agreed to a new service item (the `action.result` saying so is audited): on the
        ticket from now on, if the catalogue knows it, and the consoles see it."""
        services = self.services
        if not await entitle.item_exists(services.engine, item):
            log.warning(
                "the user agreed to an unknown service item", extra={"session": session.id, "item": item}
            )
            return
        if await tickets.set_service_item(services.engine, session.ticket.id, item):
            session.ticket = replace(session.ticket, service_item=item)
            await queue.announce(services.engine, services.bus, changed=[session.ticket.id])

    async def _finish(self, session: RelaySession, finish: Finish) -> None:
        """Every end of a session comes here: the core decides how it ends, this carries it out."""
        await self._carry_out(session, session.end(finish))

    async def _ended(self, session: RelaySession, outcome: Outcome) -> None:
        """The session is over (recorded, stored, both sides told). Runs once per session, whatever
        ended it: the place for anything that must follow every end."""
        self.services.metrics.tickets.labels(outcome.value).inc()
        for timer in list(self.timers):
            self._cancel(timer)
        if self.session is session:
            self.session = None
        self.last_ended = session.id
        session_evidence(self.services.audit, session.id, self)  # the user's copy of the audit proof

    async def _refuse(self, session: RelaySession | None, refusal: Refuse) -> None:
        services = self.services
        sid = session.id if session is not None else None
        if refusal.to is Party.AGENT:
            if refusal.strike:
                await self.drop(refusal.code, refusal.detail, refusal.msg_type, sid, refusal.ref)
            else:
                await self.send_error(refusal.code, refusal.detail, refusal.ref)
        elif refusal.to is Party.ENGINEER:
            services.metrics.dropped.labels("engineer", refusal.code.rsplit(".", maxsplit=1)[-1]).inc()
            with contextlib.suppress(AuditWriteError):
                await services.record(
                    "relay.frame_dropped",
                    refusal.sender,
                    refusal.session,
                    {"reason": refusal.code, "detail": refusal.detail[:300]},
                )
            if refusal.topic:
                error = Refusal(code=refusal.code, message=refusal.detail[:256], ref=refusal.ref)
                note = Note(NoteKind.ERROR, "server", refusal.session, payload=error)
                await services.bus.publish(refusal.topic, note)

    async def on_close(self) -> None:
        services = self.services
        if self.subscription is not None:
            await self.subscription.cancel()
        if self.device is not None and services.agents.get(self.device.id) is self:
            del services.agents[self.device.id]
            services.metrics.agents.set(len(services.agents))
        async with self.state_lock:
            if self.session is not None:
                await self._carry_out(self.session, self.session.connection_lost())
        if self.device is not None:
            with contextlib.suppress(AuditWriteError):
                await services.record("device.disconnected", self.actor, None, {})


__all__ = ["AgentLink", "FileChunk"]
