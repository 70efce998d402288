"""`/ws/engineer`: an engineer console's connection.

The engineer authenticated over HTTPS (session cookie) before the WebSocket opened; the endpoint also
checks the Origin, so another web site cannot open a socket with the engineer's cookie (the browser
sends cookies on cross-site WebSocket handshakes — RFC 6455 §10.2 leaves Origin checks to the server).

The link keeps which sessions this engineer holds and which file-push actions belong to which session;
everything it may send about a session is published to the agent's topic, where the session's core
checks the session and action lifecycles and the agent's link audits and relays
(`server.relay.session`, `server.relay.agent_link`).

A session outlives the console connection: each link has its own random id (`link_id`), carried by
the offer. When the link closes it tells each session's agent link `engineer.away`, which waits
`engineer_grace` seconds before ending the session; when a link of the same engineer says hello, it
adopts that engineer's running sessions and tells their agent links `engineer.back` (the newest
connection holds them: a page reload, a reconnect after a network blip, or a second console tab).
"""

from __future__ import annotations

import json
import logging

from starlette.websockets import WebSocket

from protocol.codec import FileChunk
from protocol.connection import State
from protocol.directions import Peer
from protocol.messages import (
    ActionRequest,
    ActionStop,
    Chat,
    Error,
    ErrorBody,
    Hello,
    Message,
    QueueUpdate,
    QueueUpdateBody,
    ScreenInput,
    SessionEnd,
    TicketAccept,
)
from server.accounts.engineers import Engineer
from server.audit import AuditWriteError
from server.db.tables import new_id
from server.relay import queue
from server.relay.bus import Subscription
from server.relay.link import SERVER_NAME, Link
from server.relay.notes import (
    ENGINEERS_TOPIC,
    LinkMoved,
    Note,
    NoteKind,
    Offer,
    Refusal,
    agent_topic,
    engineer_topic,
)
from server.relay.services import Services
from server.tickets import store as tickets
from server.tickets.lifecycle import Event, Outcome, Party, TicketState, TransitionError, apply, end

log = logging.getLogger("rme.relay.engineer")

SESSION_TYPES = (ActionRequest, Chat, SessionEnd, ActionStop, ScreenInput)


class EngineerLink(Link):
    remote = Peer.ENGINEER

    def __init__(self, ws: WebSocket, services: Services, engineer: Engineer) -> None:
        super().__init__(ws, services)
        self.engineer = engineer
        self.actor = f"engineer:{engineer.username}"
        self.sessions: dict[str, str] = {}  # session id → device id
        self.pushes: dict[str, str] = {}  # file-push action id → session id
        self.subscriptions: list[Subscription] = []
        self.topic = engineer_topic(engineer.id)
        self.link_id = new_id("l")  # which of this engineer's connections holds a session

    async def serve(self) -> None:
        await self.ws.accept()
        links = self.services.engineers.setdefault(self.engineer.id, set())
        links.add(self)
        self.services.metrics.engineers.set(sum(len(s) for s in self.services.engineers.values()))
        bus = self.services.bus
        self.subscriptions.append(await bus.subscribe(self.topic, self.on_note))
        await self.run()

    async def handle(self, message: Message, text: str) -> None:
        if isinstance(message, Hello):
            await self.send(
                self.conn.welcome_for(
                    message, SERVER_NAME, max(1, int(self.services.config.heartbeat_timeout // 3))
                )
            )
            await self._adopt()  # before the snapshot: a console that has it holds its sessions
            snapshot = await tickets.summaries(self.services.engine)
            await self.send(QueueUpdate(body=QueueUpdateBody(changed=snapshot, snapshot=True)))
            self.subscriptions.append(await self.services.bus.subscribe(ENGINEERS_TOPIC, self.on_note))
        elif isinstance(message, TicketAccept):
            await self._accept(message)
        elif isinstance(message, SESSION_TYPES):
            await self._to_session(message, text)
        elif message.type == "error":
            log.info("engineer console reported an error", extra={"actor": self.actor, "error": text[:300]})
        else:
            await self.drop("protocol", f"{message.type} is not handled from an engineer", message.type)

    async def _accept(self, message: TicketAccept) -> None:
        services = self.services
        ticket = await tickets.get_ticket(services.engine, ticket_id=message.body.ticket_id)
        if ticket is None or ticket.state is not TicketState.QUEUED:
            await self.send_error("ticket.unavailable", "ticket is not waiting in the queue", message.id)
            return
        try:
            await services.record(
                "ticket.accept",
                self.actor,
                ticket.session_id,
                {"ticket": ticket.id, "engineer": self.engineer.id},
            )
        except AuditWriteError:
            await self.send_error("server.unavailable", "could not be recorded; not accepted", message.id)
            return
        try:
            move = apply(ticket.state, Event.ACCEPT, Party.ENGINEER, engineer_id=self.engineer.id)
        except TransitionError:
            move = None
        if move is None or not await tickets.transition(services.engine, ticket.id, move):
            await self.send_error("ticket.unavailable", "another engineer took this ticket", message.id)
            return
        self.sessions[ticket.session_id] = ticket.device_id
        offer = Offer(
            ticket=ticket.id,
            engineer=self.engineer.id,
            name=self.engineer.display_name[:256],
            link=self.link_id,
            node=services.node_id,  # if this node dies, the agent's node ends the wait for it
        )
        reached = await services.bus.publish(
            agent_topic(ticket.device_id),
            Note(NoteKind.OFFER, self.actor, ticket.session_id, payload=offer, reply_to=self.topic),
        )
        if reached == 0:  # the user left between asking and now
            lost = end(move.after, Outcome.CONNECTION_LOST, Party.SERVER)
            await tickets.transition(services.engine, ticket.id, lost)
            self.sessions.pop(ticket.session_id, None)
            await self.send_error("ticket.unavailable", "the user is no longer connected", message.id)
            await queue.announce(services.engine, services.bus, removed=[ticket.id])

    async def _adopt(self) -> None:
        """Hold this engineer's running sessions from now on: their agent links cancel the grace timer
        (if the previous connection is gone) and take this link as the session's."""
        services = self.services
        back = LinkMoved(link=self.link_id, node=services.node_id)
        for ticket in await tickets.open_sessions_of_engineer(services.engine, self.engineer.id):
            self.sessions[ticket.session_id] = ticket.device_id
            reached = await services.bus.publish(
                agent_topic(ticket.device_id),
                Note(
                    NoteKind.ENGINEER_BACK, self.actor, ticket.session_id, payload=back, reply_to=self.topic
                ),
            )
            if reached == 0:  # the user's connection is gone too; its node ends the ticket
                self.sessions.pop(ticket.session_id, None)

    async def _to_session(self, message: Message, text: str) -> None:
        session = message.session
        device_id = self.sessions.get(session or "")
        if session is None or device_id is None:
            await self.drop(
                "session",
                f"{message.type} for a session this engineer does not hold",
                message.type,
                session,
                message.id,
            )
            return
        if isinstance(message, ActionRequest) and message.body.action.kind == "push_file":
            self.pushes[message.body.action_id] = session
        reached = await self.services.bus.publish(
            agent_topic(device_id),
            Note(NoteKind.ENGINEER_FRAME, self.actor, session, text, reply_to=self.topic, message=message),
        )
        if reached == 0:
            await self.send_error("session.agent_offline", "the user's computer is not connected", message.id)

    async def handle_chunk(self, chunk: FileChunk, frame: bytes) -> None:
        session = self.pushes.get(chunk.action_id)
        device_id = self.sessions.get(session or "")
        if session is None or device_id is None:
            await self.drop(
                "action", "file chunk for no file push of this engineer", "chunk", session, chunk.action_id
            )
            return
        if chunk.last:
            self.pushes.pop(chunk.action_id, None)
        reached = await self.services.bus.publish(
            agent_topic(device_id),
            Note(NoteKind.ENGINEER_CHUNK, self.actor, session, bytes(frame), reply_to=self.topic),
        )
        if reached == 0:
            await self.send_error(
                "session.agent_offline", "the user's computer is not connected", chunk.action_id
            )

    async def on_note(self, note: Note) -> None:
        kind = note.kind
        if kind is NoteKind.FRAME or kind is NoteKind.QUEUE:
            if self.conn.state is State.READY:
                await self.send_frame(note.frame)
        elif kind is NoteKind.SESSION_CLOSED and note.session is not None:
            self.sessions.pop(note.session, None)
            self.pushes = {a: s for a, s in self.pushes.items() if s != note.session}
        elif kind is NoteKind.ERROR:
            assert isinstance(note.payload, Refusal)
            refusal = note.payload
            body = ErrorBody(code=refusal.code, message=refusal.message[:256], ref=refusal.ref or None)
            await self.send(Error(session=note.session, body=body))
        elif kind is NoteKind.KICK:
            await self.close(4403, "account disabled")

    def session_for(self, text: str | None) -> str | None:
        """The session a refused frame names, if this engineer holds it (so the user's record shows it)."""
        if text is None:
            return None
        try:
            named = json.loads(text).get("session")
        except (ValueError, AttributeError):
            return None
        return named if isinstance(named, str) and named in self.sessions else None

    async def on_close(self) -> None:
        services = self.services
        for subscription in self.subscriptions:
            await subscription.cancel()
        links = services.engineers.get(self.engineer.id)
        if links is not None:
            links.discard(self)
            if not links:
                del services.engineers[self.engineer.id]
        services.metrics.engineers.set(sum(len(s) for s in services.engineers.values()))
        # The agent link of each session waits `engineer_grace` for this engineer to come back (then
        # ends it); it ignores this if a newer connection of the engineer holds the session already.
        away = LinkMoved(link=self.link_id)
        for session, device_id in list(self.sessions.items()):
            await services.bus.publish(
                agent_topic(device_id),
                Note(NoteKind.ENGINEER_AWAY, self.actor, session, payload=away, reply_to=self.topic),
            )
