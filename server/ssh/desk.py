"""The SSH engineer's desk: the engineer side of the protocol, in-process, over the same `EngineerLink`
the web console's `/ws/engineer` uses (`server.ssh.local_socket`). Whatever the SSH prompt, a script or
`scp`/`sftp put` asks for becomes the same protocol message the console sends — `ticket.accept`,
`action.request`, file chunks, `chat`, `session.end` — checked, audited, relayed to the agent and
consented to by the user exactly as the console's are; nothing here talks to the agent or the
database directly.

On top of the shared path the desk audits an `ssh.request` event before each request (with
`via: ssh` and the login's key fingerprint), so the log says which requests came through SSH.

State lives in `queue` (the tickets, from queue updates) and `sessions` (`SessionView`: its actions
with their states from `server.ssh.prompt.advance`, the user's chat); every change is announced on
`changed` (waiters) and in `events` (what the interactive prompt prints).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from starlette.websockets import WebSocket

from protocol.actions import ActionParams, PushFileParams
from protocol.codec import FileChunk
from protocol.connection import Connection
from protocol.directions import Peer
from protocol.errors import ProtocolError
from protocol.limits import MAX_CHUNK_PAYLOAD
from protocol.messages import (
    ActionProgress,
    ActionRequest,
    ActionRequestBody,
    ActionResult,
    ActionResultBody,
    Chat,
    ChatBody,
    ConsentReply,
    ConsentRequest,
    Envelope,
    Error,
    Heartbeat,
    HeartbeatBody,
    Hello,
    HelloBody,
    Message,
    QueueUpdate,
    SessionAccept,
    SessionDecline,
    SessionEnd,
    SessionEndBody,
    TicketAccept,
    TicketAcceptBody,
    TicketSummary,
    Welcome,
    new_id,
)
from protocol.screen import ScreenFrame
from server.accounts.engineers import Engineer
from server.audit import AuditWriteError, JsonValue
from server.relay.engineer_link import EngineerLink
from server.relay.services import Services
from server.ssh.local_socket import LocalSocket
from server.ssh.prompt import FINAL_STATES, advance
from server.tickets import store as tickets
from server.tickets.lifecycle import TicketState

log = logging.getLogger("rme.ssh")

OPEN_TIMEOUT = 10.0
MAX_EVENTS = 1000
MAX_CHAT_KEPT = 200


class DeskError(Exception):
    """A request the desk could not make (`code`: a protocol error code or the desk's own)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class ActionView:
    id: str
    session: str
    params: ActionParams
    state: str = "requested"
    result: ActionResultBody | None = None
    reason: str | None = None  # the user's or the server's reason for a refusal
    progress: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass
class SessionView:
    id: str
    ticket: str
    state: str = "offered"  # offered → active → ended
    end_reason: str | None = None
    actions: dict[str, ActionView] = field(default_factory=dict)
    chat: list[str] = field(default_factory=list)


Event = tuple[str, str, object]  # (kind, session id, detail): "chat" | "session" | "action" | "error"


class Desk:
    """One SSH connection's engineer link, and what the engineer knows through it."""

    def __init__(self, services: Services, engineer: Engineer) -> None:
        self.services = services
        self.engineer = engineer
        self.actor = f"engineer:{engineer.username}"
        self.conn = Connection(local=Peer.ENGINEER, remote=Peer.SERVER)
        self.sock = LocalSocket()
        self.link = EngineerLink(cast(WebSocket, self.sock), services, engineer)
        self.queue: dict[str, TicketSummary] = {}
        self.sessions: dict[str, SessionView] = {}
        self.by_ticket: dict[str, str] = {}  # ticket id → session id
        self.errors: dict[str, Error] = {}  # refusals by the id of what they refuse
        self.listeners: set[asyncio.Queue[Event]] = set()  # each interactive prompt's
        self.changed = asyncio.Condition()
        self.closed = False
        self.on_lost: Callable[[], None] | None = None  # the link closed from the server's side (a kick)
        self.open_files = 0  # files this engineer's sftp/scp channels are receiving (`server.ssh.sftp`)
        self._closing = False
        self._welcome = asyncio.Event()
        self._snapshot = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeat = 20.0

    # -- opening and closing ---------------------------------------------------------------------

    async def open(self) -> None:
        self._tasks.append(asyncio.create_task(self.link.serve(), name=f"ssh-link-{self.actor}"))
        self._tasks.append(asyncio.create_task(self._read(), name=f"ssh-desk-{self.actor}"))
        await self._send(Hello(body=HelloBody(role="engineer", versions=[1], software="rme-ssh/0.1")))
        async with asyncio.timeout(OPEN_TIMEOUT):
            await self._welcome.wait()
            await self._snapshot.wait()
        self._tasks.append(asyncio.create_task(self._beat(), name=f"ssh-beat-{self.actor}"))
        # The link adopted this engineer's running sessions on hello (an earlier SSH login's, or a
        # console's): know them here too, as the console does after a reload.
        for ticket in await tickets.open_sessions_of_engineer(self.services.engine, self.engineer.id):
            self._track(
                ticket.id, ticket.session_id, "active" if ticket.state is TicketState.ACTIVE else "offered"
            )

    def _track(self, ticket_id: str, session_id: str, state: str) -> SessionView:
        view = self.sessions.get(session_id)
        if view is None:
            view = self.sessions[session_id] = SessionView(session_id, ticket_id, state)
            self.by_ticket[ticket_id] = session_id
        return view

    async def close(self) -> None:
        if self.closed:
            return
        self._closing = True
        self.closed = True
        self.sock.hang_up()
        link_task, *others = self._tasks
        for task in others:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
            async with asyncio.timeout(5):
                await link_task  # its clean-up tells each session's agent link the engineer went away
        async with self.changed:
            self.changed.notify_all()

    async def _beat(self) -> None:
        while not self.closed:
            await asyncio.sleep(self._heartbeat)
            with contextlib.suppress(ConnectionError, DeskError):
                await self._send(Heartbeat(body=HeartbeatBody(seq=0)))

    # -- sending -----------------------------------------------------------------------------------

    async def _send(self, message: Envelope) -> None:
        if self.closed or not self.sock.open:
            raise DeskError("desk.closed", "the connection to the relay is closed")
        await self.sock.to_link(self.conn.send(message).decode())

    async def _audit(self, session: str | None, fingerprint: str, data: dict[str, JsonValue]) -> None:
        """Record `ssh.request` (via ssh, with the login's key fingerprint) before the request goes out."""
        try:
            await self.services.record(
                "ssh.request", self.actor, session, {"via": "ssh", "fingerprint": fingerprint, **data}
            )
        except AuditWriteError:
            raise DeskError("server.unavailable", "could not be recorded; not sent") from None

    # -- what the engineer asks for ----------------------------------------------------------------

    def session(self, session_id: str) -> SessionView:
        view = self.sessions.get(session_id)
        if view is None or view.state == "ended":
            raise DeskError("session.unknown", session_id)
        return view

    async def accept(self, ticket_id: str, fingerprint: str) -> SessionView:
        """Take a queued ticket; returns once the user accepted the session (DeskError otherwise)."""
        ticket = await tickets.get_ticket(self.services.engine, ticket_id=ticket_id)
        if ticket is None:
            raise DeskError("ticket.unavailable", "no such ticket")
        await self._audit(ticket.session_id, fingerprint, {"type": "ticket.accept", "ticket": ticket_id})
        message = TicketAccept(body=TicketAcceptBody(ticket_id=ticket_id))
        view = self._track(ticket_id, ticket.session_id, "offered")
        await self._send(message)

        def settled() -> bool:
            return message.id in self.errors or view.state != "offered" or self.closed

        await self.wait_for(settled, self.services.config.offer_timeout + 10)
        error = self.errors.pop(message.id, None)
        if error is not None:
            self.sessions.pop(view.id, None)
            self.by_ticket.pop(ticket_id, None)
            raise DeskError(error.body.code, error.body.message)
        if view.state != "active":
            reason = view.end_reason or "closed"
            raise DeskError("session.declined" if reason == "declined" else "session.ended", reason)
        return view

    async def request(
        self, session_id: str, params: ActionParams, fingerprint: str, reason: str = ""
    ) -> ActionView:
        view = self.session(session_id)
        action_id = new_id()
        await self._audit(
            session_id, fingerprint, {"type": "action.request", "action": action_id, "kind": params.kind}
        )
        action = ActionView(action_id, session_id, params)
        view.actions[action_id] = action
        body = ActionRequestBody(action_id=action_id, action=params, reason=reason[:256])
        try:
            await self._send(ActionRequest(session=session_id, body=body))
        except (DeskError, ConnectionError):
            del view.actions[action_id]
            raise
        self._emit(("action", session_id, action))
        return action

    async def wait_action(self, action: ActionView, until: Callable[[ActionView], bool]) -> ActionView:
        await self.wait_for(lambda: until(action) or self.closed, None)
        return action

    async def chat(self, session_id: str, text: str, fingerprint: str) -> None:
        self.session(session_id)
        await self._audit(session_id, fingerprint, {"type": "chat"})
        await self._send(Chat(session=session_id, body=ChatBody(text=text)))

    async def end(self, session_id: str, reason: str, fingerprint: str, note: str | None = None) -> None:
        view = self.session(session_id)
        await self._audit(session_id, fingerprint, {"type": "session.end", "reason": reason})
        body = SessionEndBody.model_validate({"reason": reason, "note": note})
        await self._send(SessionEnd(session=session_id, body=body))
        self._finish(view, reason)

    async def push(
        self, session_id: str, *, name: str, path: Path, size: int, sha256: str, fingerprint: str
    ) -> ActionView:
        """Push the spooled file at `path` into the user's inbox: the request, the user's consent, the
        chunks, the agent's hash check. Returns the action once final."""
        params = PushFileParams(name=name, size=size, sha256=sha256)
        action = await self.request(session_id, params, fingerprint, "via ssh")
        asked = time.monotonic()
        await self.wait_action(action, lambda a: a.state not in ("requested", "awaiting_consent"))
        if action.state not in ("allowed", "running"):  # the agent may report progress at once
            return action
        allowed = time.monotonic()
        offset = 0
        with path.open("rb") as source:
            while True:
                piece = source.read(MAX_CHUNK_PAYLOAD)
                last = offset + len(piece) >= size
                frame = self.conn.send_chunk(FileChunk(action.id, offset, piece, last))
                if action.final or self.closed:
                    return action  # the user ended it meanwhile: stop sending
                await self.sock.to_link(frame)
                offset += len(piece)
                if last:
                    break
        sent = time.monotonic()
        await self.wait_action(action, lambda a: a.final)
        log.info(
            "push relayed",
            extra={
                "action": action.id,
                "consent_s": round(allowed - asked, 3),
                "send_s": round(sent - allowed, 3),
                "verify_s": round(time.monotonic() - sent, 3),
            },
        )
        return action

    async def wait_for(self, predicate: Callable[[], bool], within: float | None) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(predicate)

    # -- what comes back -----------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.sock.from_link.get()
                if frame is None:
                    return
                try:
                    item = self.conn.receive(frame)
                except ProtocolError:
                    log.exception("the relay sent the SSH desk a frame it cannot read")
                    continue
                if isinstance(item, FileChunk | ScreenFrame):  # the SSH desk shows no screen
                    continue
                self._on_message(item)
                async with self.changed:
                    self.changed.notify_all()
        finally:
            self.closed = True
            if not self._closing and self.on_lost is not None:
                self.on_lost()
            for view in self.sessions.values():
                if view.state != "ended":
                    self._finish(view, "connection_lost")
            async with self.changed:
                self.changed.notify_all()

    def listen(self) -> asyncio.Queue[Event]:
        """A queue of what happens from now on (for one interactive prompt); `unlisten` when done."""
        queue: asyncio.Queue[Event] = asyncio.Queue(MAX_EVENTS)
        self.listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[Event]) -> None:
        self.listeners.discard(queue)

    def _emit(self, event: Event) -> None:
        for queue in self.listeners:
            with contextlib.suppress(asyncio.QueueFull):  # a prompt that does not read: drop, never block
                queue.put_nowait(event)

    def _finish(self, view: SessionView, reason: str) -> None:
        view.state, view.end_reason = "ended", reason
        for action in view.actions.values():
            after = advance(action.state, "session.end")
            if after is not None:
                action.state = after
                self._emit(("action", view.id, action))
        self._emit(("session", view.id, view))

    def _on_message(self, message: Message) -> None:
        if isinstance(message, Welcome):
            self._heartbeat = float(message.body.heartbeat_s)
            self._welcome.set()
            return
        if isinstance(message, QueueUpdate):
            self._on_queue(message)
            return
        if isinstance(message, Error):
            self._on_error(message)
            return
        session = message.session
        view = self.sessions.get(session or "")
        if view is None:
            return
        if isinstance(message, SessionAccept):
            view.state = "active"
            self._emit(("session", view.id, view))
        elif isinstance(message, SessionDecline):
            self._finish(view, "declined")
        elif isinstance(message, SessionEnd):
            if view.state != "ended":
                self._finish(view, message.body.reason)
        elif isinstance(message, Chat):
            view.chat = [*view.chat[-MAX_CHAT_KEPT:], message.body.text]
            self._emit(("chat", view.id, message.body.text))
        elif isinstance(message, ConsentRequest):
            self._step(view, message.body.action_id, "consent.request")
        elif isinstance(message, ConsentReply):
            reply = message.body
            self._step(view, reply.action_id, f"consent.reply:{reply.decision}", reason=reply.reason)
        elif isinstance(message, ActionProgress):
            note = message.body.note
            if message.body.done is not None and message.body.total:
                note = f"{message.body.done}/{message.body.total}"
            self._step(view, message.body.action_id, "action.progress", progress=note)
        elif isinstance(message, ActionResult):
            body = message.body
            self._step(view, body.action_id, f"action.result:{body.status}", result=body, reason=body.error)

    def _step(
        self,
        view: SessionView,
        action_id: str,
        event: str,
        *,
        reason: str | None = None,
        result: ActionResultBody | None = None,
        progress: str | None = None,
    ) -> None:
        action = view.actions.get(action_id)
        if action is None:
            return
        after = advance(action.state, event)
        if after is None:
            return
        action.state = after
        if reason:
            action.reason = reason
        if result is not None:
            action.result = result
        if progress:
            action.progress = progress
        self._emit(("action", view.id, action))

    def _on_queue(self, message: QueueUpdate) -> None:
        body = message.body
        if body.snapshot:
            self.queue.clear()
        for ticket in body.changed:
            self.queue[ticket.ticket_id] = ticket
        for gone in body.removed:
            self.queue.pop(gone, None)
        if body.snapshot:
            self._snapshot.set()

    def _on_error(self, message: Error) -> None:
        body = message.body
        if body.ref:
            self.errors[body.ref] = message
            if len(self.errors) > MAX_EVENTS:
                self.errors.pop(next(iter(self.errors)))
        view = self.sessions.get(message.session or "")
        if view is not None and body.ref and body.ref in view.actions:
            self._step(view, body.ref, "error", reason=body.message)
        self._emit(("error", message.session or "", body))
