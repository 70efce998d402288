"""The client loop: dial out over WSS, prove the device key, keep the line alive, come back after drops.

A thin loop around the sans-I/O `protocol.Connection` (as `websockets`' asyncio layer is around its
core): receive a frame, feed it to the connection, dispatch the message. One `_connect_once` is one
WebSocket: hello → welcome → (enroll) → auth.challenge → auth.response → auth.ok → READY. Trust is the
operator's CA only (the file from enrollment, not the system store), and the device's signature is bound
to the certificate seen on this very TLS connection (RFC 5929 tls-server-end-point).

After any drop the loop waits `backoff` — exponential from `reconnect_min` to `reconnect_max`, with full
jitter so a thousand agents behind one broken DSLAM do not return in lockstep — and dials again, without
the user doing anything; a node shedding load answers HTTP 503 with a Retry-After, which the loop
honours (jittered). A node with too many TLS handshakes in flight resets the connection before TLS
(`server.gate`), where no answer can say when: a reset or EOF before the TLS handshake is done is taken
as "busy" and waited out like a 503 with `BUSY_WAIT` seconds. A session cannot outlive its
connection: the guard ends it locally (`connection_lost`) and anything the server must hear (a user's
End) waits in `UnreportedEnds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import platform
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from agent.connection.identity import Identity, IdentityStore, public_key_b64
from agent.evidence import keep_evidence
from protocol import Connection, Peer
from protocol.auth import server_end_point
from protocol.codec import MAX_CHUNK_FRAME, FileChunk
from protocol.errors import ProtocolError
from protocol.limits import MAX_TEXT_FRAME
from protocol.messages import (
    SUPPORTED_VERSIONS,
    ActionRequest,
    ActionStop,
    AuditEvidence,
    AuthChallenge,
    AuthOk,
    AuthResponse,
    AuthResponseBody,
    Catalogue,
    CatalogueBody,
    Chat,
    EnrollOk,
    EnrollRequest,
    EnrollRequestBody,
    Envelope,
    Error,
    ErrorBody,
    Heartbeat,
    HeartbeatBody,
    Hello,
    HelloBody,
    HelpQueued,
    HelpRefused,
    HelpRequest,
    Message,
    Records,
    ScreenInput,
    SessionEnd,
    SessionOffer,
    Welcome,
)
from protocol.screen import ScreenFrame

SOFTWARE = "rme-agent/0.1"
DELIVERY_TIMEOUT_S = 3.0
# A connection reset before TLS completed: the node is busy (`server.gate`); wait like for a 503 with
# this Retry-After (jittered by the loop): short, as the exponential back-off spreads a storm further.
BUSY_WAIT = 2.0
SILENT_BEATS = 2.5  # heartbeats without a word from the server before the connection counts as dead
SESSION_TYPES = (SessionOffer, ActionRequest, SessionEnd, Chat, ActionStop, ScreenInput)


class ConnectError(Exception):
    """The server refused us (bad enrollment code, revoked device) or spoke nonsense during set-up."""


def agent_url(server: str) -> str:
    """`wss://host:port` → `wss://host:port/ws/agent`; `https://` is accepted as `wss://`."""
    parts = urlsplit(server if "://" in server else f"wss://{server}")
    scheme = {"https": "wss", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"the server address must be wss:// (got {parts.scheme}://)")
    path = parts.path if parts.path not in ("", "/") else "/ws/agent"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def pinned_context(ca: Path) -> ssl.SSLContext:
    """Trust only the operator's CA: a certificate from any public CA is refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(ca))
    return context


def backoff(attempt: int, low: float, high: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff (AWS architecture blog): uniform in [low, min(high, low·2^n)]."""
    ceiling = min(high, low * float(1 << min(attempt, 30)))
    return low + (ceiling - low) * rand()


def next_wait(
    attempt: int,
    connected: bool,
    hint: float,
    bounds: tuple[float, float],
    rand: Callable[[], float] = random.random,
) -> tuple[int, float]:
    """After a drop: the next attempt number and the wait before it.

    A connection that got through starts the back-off again. A node that said when to come back (503 +
    Retry-After, or a reset before TLS: busy) is up and pacing its own storm: its word is followed,
    spread over half as much again, and the exponential back-off does not grow — growing it there
    kept agents away for up to `high` seconds after the node had room. Only failures without a word
    (refused, timed out, cut) grow it. `bounds`: the back-off's (lowest, highest) wait."""
    attempt = 0 if connected else attempt
    if hint:
        return attempt, hint * (1.0 + 0.5 * rand())
    attempt = attempt if connected else attempt + 1
    return attempt, backoff(attempt, *bounds, rand=rand)


def retry_after(value: str | None, most: float = 300.0) -> float:
    """Seconds from an HTTP Retry-After header (RFC 9110 §10.2.3, delay-seconds form); 0 if absent
    or not a number; never more than `most`."""
    try:
        seconds = float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
    return min(max(seconds, 0.0), most) if math.isfinite(seconds) else 0.0


def refused_before_tls(exc: BaseException) -> bool:
    """Whether `exc`, raised while dialling, is a node refusing the connection during its TLS handshake
    (a reset, or EOF where the server's hello should be) rather than a node that is not there."""
    if isinstance(exc, ConnectionResetError):
        return True
    return isinstance(exc, ssl.SSLError) and (
        isinstance(exc, ssl.SSLEOFError) or "UNEXPECTED_EOF" in str(exc) or "EOF occurred" in str(exc)
    )


def hello() -> Hello:
    os_name = f"{platform.system()} {platform.release()}"[:100]
    return Hello(
        body=HelloBody(role="agent", versions=list(SUPPORTED_VERSIONS), software=SOFTWARE, os=os_name)
    )


@dataclass
class HelpStatus:
    state: str = "none"  # none · waiting (not yet sent) · sent · queued · refused
    words: str = ""
    position: int | None = None
    ticket_id: str | None = None
    reason: str | None = None  # the server's reason in English (`reason_zh`: in Chinese)
    reason_zh: str | None = None
    code: str | None = None  # the machine-readable reason (`subscription.suspended`, …)
    item: str | None = None  # the service item asked for
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "words": self.words,
            "position": self.position,
            "ticket_id": self.ticket_id,
            "reason": self.reason,
            "reason_zh": self.reason_zh,
            "code": self.code,
            "item": self.item,
        }


class AgentClient:
    """Owns the WebSocket. `deliver`/`send` are the guard's Outbox; `on_message`/`on_chunk` its inputs."""

    def __init__(
        self,
        server: str,
        ca: Path,
        identities: IdentityStore,
        *,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = agent_url(server)
        self.ca = ca
        self.identities = identities
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.state = "offline"  # offline · connecting · online · not_enrolled
        self.last_error: str | None = None
        self.device_id: str | None = None
        self.help = HelpStatus()
        self._pending_help: HelpRequest | None = None
        self._ws: ClientConnection | None = None
        self._conn: Connection | None = None
        self.on_message: Callable[[Message], Any] | None = None
        self.on_chunk: Callable[[FileChunk], None] | None = None
        self.on_ready: Callable[[], Any] | None = None
        self.on_lost: Callable[[str], Any] | None = None
        self.on_state: Callable[[], None] | None = None
        self.on_help: Callable[[HelpStatus], None] | None = None
        self._last_heard = 0.0  # monotonic time of the last frame from the server
        self.connections = 0  # successful authentications so far (tests, reconnect proofs)
        self.on_catalogue: Callable[[CatalogueBody], None] | None = None
        self._replies: dict[str, asyncio.Future[Message]] = {}  # reply type → the one asking for it

    # -- the guard's outbox -----------------------------------------------------------------------

    async def send(self, message: Envelope) -> bool:
        ws, conn = self._ws, self._conn
        if ws is None or conn is None or self.state != "online":
            return False
        try:
            await ws.send(conn.send(message).decode("utf-8"))
        except (WebSocketException, OSError, ProtocolError):
            return False
        return True

    async def send_screen(self, frame: ScreenFrame) -> bool:
        """A screen frame (binary); waits while the socket's buffer is full (the pace adapts to that)."""
        ws, conn = self._ws, self._conn
        if ws is None or conn is None or self.state != "online":
            return False
        try:
            await ws.send(conn.send_screen(frame))
        except (WebSocketException, OSError, ProtocolError):
            return False
        return True

    async def deliver(self, message: Envelope) -> bool:
        ws = self._ws
        if ws is None or not await self.send(message):
            return False
        try:
            pong = await ws.ping()
            async with asyncio.timeout(DELIVERY_TIMEOUT_S):
                await pong
        except (WebSocketException, OSError, TimeoutError):
            # The frame may be sitting in a dead socket's buffer: force a reconnect, keep the report.
            with contextlib.suppress(Exception):
                ws.transport.abort()
            return False
        return True

    async def ask(self, message: Envelope, reply: str, wait_s: float = 10.0) -> Message | None:
        """Send `message` and wait for the server's answer of type `reply` (None: offline, no answer)."""
        future = self._replies.get(reply)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._replies[reply] = future
        if not await self.send(message):
            return None
        try:
            async with asyncio.timeout(wait_s):
                return await asyncio.shield(future)
        except TimeoutError:
            return None
        finally:
            if future.done() and self._replies.get(reply) is future:
                del self._replies[reply]

    # -- asking for help --------------------------------------------------------------------------

    async def request_help(self, request: HelpRequest) -> None:
        """Send now if connected, else as soon as the connection is up."""
        self._help_state(
            "waiting", words=request.body.words, position=None, ticket_id=None, reason=None, reason_zh=None,
            code=None, item=request.body.service_item,
        )  # fmt: skip
        self._pending_help = request
        if await self.send(request):
            self._pending_help = None
            self._help_state("sent")

    def _help_state(self, state: str, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self.help, key, value)
        self.help.state = state
        self.help.changed.set()
        self.help.changed = asyncio.Event()
        if self.on_help is not None:
            self.on_help(self.help)
        self._notify()

    def _notify(self) -> None:
        if self.on_state is not None:
            self.on_state()

    # -- one connection ---------------------------------------------------------------------------

    async def _open(self) -> tuple[ClientConnection, Connection, bytes, int]:
        ws = await connect(
            self.url,
            ssl=pinned_context(self.ca),
            compression=None,
            proxy=None,
            open_timeout=self.connect_timeout,
            max_size=max(MAX_TEXT_FRAME, MAX_CHUNK_FRAME),
            max_queue=64,
            # One keep-alive, not two: protocol heartbeats, which the server answers, both keep NAT
            # mappings open and prove the server alive (`_heartbeats`); a WebSocket ping on top doubled
            # every idle agent's frames on the server. `deliver` still pings to confirm a frame.
            ping_interval=None,
            close_timeout=1,
            user_agent_header=SOFTWARE,
        )
        ssl_object = ws.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            await ws.close()
            raise ConnectError("no server certificate on the connection")
        conn = Connection(local=Peer.AGENT, remote=Peer.SERVER)
        await ws.send(conn.send(hello()).decode("utf-8"))
        welcome = await self._recv_message(ws, conn)
        if not isinstance(welcome, Welcome):
            raise ConnectError(f"expected welcome, got {welcome.type}")
        return ws, conn, server_end_point(der), welcome.body.heartbeat_s

    async def _recv_message(self, ws: ClientConnection, conn: Connection) -> Message:
        while True:
            async with asyncio.timeout(self.connect_timeout):  # not wait_for: it can swallow a cancel
                frame = await ws.recv()
            item = conn.receive(frame)
            if isinstance(item, FileChunk | ScreenFrame):
                raise ConnectError("binary frame during set-up")
            if isinstance(item, Error):
                raise ConnectError(f"{item.body.code}: {item.body.message}")
            if isinstance(item, Heartbeat):
                continue
            return item

    async def enroll(self, code: str, device_name: str) -> Identity:
        """Redeem a single-use enrollment code: the server learns our public key, we learn our ids."""
        key = self.identities.pending_key()
        ws, conn, _binding, _beat = await self._open()
        try:
            body = EnrollRequestBody(
                code=code,
                public_key=public_key_b64(key),
                device_name=device_name[:200],
                os=f"{platform.system()} {platform.release()}"[:100],
            )
            await ws.send(conn.send(EnrollRequest(body=body)).decode("utf-8"))
            while True:
                reply = await self._recv_message(ws, conn)
                if isinstance(reply, EnrollOk):
                    break
                if not isinstance(reply, AuthChallenge):  # a server may challenge first; enrolling ignores it
                    raise ConnectError(f"expected enroll.ok, got {reply.type}")
            self.identities.save(reply.body.device_id, reply.body.customer_id)
        finally:
            await ws.close()
        identity = self.identities.load()
        assert identity is not None
        return identity

    async def _authenticate(
        self, ws: ClientConnection, conn: Connection, binding: bytes, me: Identity
    ) -> None:
        challenge = await self._recv_message(ws, conn)
        if not isinstance(challenge, AuthChallenge):
            raise ConnectError(f"expected auth.challenge, got {challenge.type}")
        signature = me.sign(challenge.body.nonce, binding)
        response = AuthResponse(body=AuthResponseBody(device_id=me.device_id, signature=signature))
        await ws.send(conn.send(response).decode("utf-8"))
        ok = await self._recv_message(ws, conn)
        if not isinstance(ok, AuthOk):
            raise ConnectError(f"expected auth.ok, got {ok.type}")

    async def _connect_once(self, me: Identity, stop: asyncio.Event) -> None:
        self.state = "connecting"
        self._notify()
        ws, conn, binding, beat = await self._open()
        try:
            await self._authenticate(ws, conn, binding, me)
            if stop.is_set():
                return  # stopped while we were authenticating: nobody will close this one for us
            self._ws, self._conn = ws, conn
            self.state, self.device_id, self.last_error = "online", me.device_id, None
            self.connections += 1
            self._notify()
            self._last_heard = time.monotonic()
            heartbeat = asyncio.ensure_future(self._heartbeats(ws, conn, max(1.0, beat * 0.8)))
            try:
                if self.on_ready is not None:
                    await self.on_ready()
                if self._pending_help is not None and await self.send(self._pending_help):
                    self._pending_help = None
                    self._help_state("sent")
                await self._receive_loop(ws, conn)
            finally:
                heartbeat.cancel()
        finally:
            self._ws = self._conn = None
            if self.state == "online":
                self.state = "offline"
            await ws.close()

    async def _heartbeats(self, ws: ClientConnection, conn: Connection, every: float) -> None:
        """Send a heartbeat every `every` seconds; the server answers each, so a connection that has
        brought nothing for `SILENT_BEATS` beats is dead (a half-open TCP, a vanished node): drop it,
        and the run loop dials again."""
        seq = 0
        while True:
            await asyncio.sleep(every)
            if time.monotonic() - self._last_heard > SILENT_BEATS * every:
                ws.transport.abort()
                return
            seq += 1
            with contextlib.suppress(ProtocolError):
                await ws.send(conn.send(Heartbeat(body=HeartbeatBody(seq=seq))).decode("utf-8"))

    async def _receive_loop(self, ws: ClientConnection, conn: Connection) -> None:
        async for frame in ws:
            self._last_heard = time.monotonic()
            try:
                item = conn.receive(frame)
            except ProtocolError as exc:
                # A bad frame from the server is dropped, never half-acted on; say so and go on.
                with contextlib.suppress(ProtocolError):
                    await ws.send(
                        conn.send(
                            Error(body=ErrorBody(code="protocol.invalid", message=str(exc)[:250]))
                        ).decode("utf-8")
                    )
                continue
            if isinstance(item, FileChunk):
                if self.on_chunk is not None:
                    self.on_chunk(item)
            elif isinstance(item, HelpQueued):
                self._help_state("queued", position=item.body.position, ticket_id=item.body.ticket_id)
            elif isinstance(item, HelpRefused):
                message = item.body.message
                self._help_state(
                    "refused",
                    reason=message.en,
                    reason_zh=message.zh_CN,
                    code=item.body.reason,
                    position=None,
                )
            elif isinstance(item, (Catalogue, Records)):
                if isinstance(item, Catalogue) and self.on_catalogue is not None:
                    self.on_catalogue(item.body)
                waiting = self._replies.get(item.type)
                if waiting is not None and not waiting.done():
                    waiting.set_result(item)
            elif isinstance(item, AuditEvidence):  # the user's own copy of the session's audit proof
                keep_evidence(self.identities.data_dir, item.session, item.body.model_dump())
            elif isinstance(item, SESSION_TYPES) and self.on_message is not None:
                await self.on_message(item)
            elif isinstance(item, Error) and item.body.ref and self.on_message is not None:
                await self.on_message(item)  # may concern one action (e.g. a rejected push)

    # -- forever ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, reconnect — until `stop` is set."""
        attempt = 0
        while not stop.is_set():
            me = self.identities.load()
            if me is None:
                self.state = "not_enrolled"
                self._notify()
                await _wait(stop, 2.0)
                continue
            before = self.connections
            hint = 0.0
            try:
                await self._connect_once(me, stop)
                why = "closed by the server"
            except InvalidStatus as exc:  # e.g. 503 + Retry-After from a node shedding a storm
                why = f"server answered HTTP {exc.response.status_code}"
                hint = retry_after(exc.response.headers.get("Retry-After"))
            except (
                OSError,
                WebSocketException,
                TimeoutError,
                ConnectError,
                ProtocolError,
                ssl.SSLError,
            ) as exc:
                why = f"{type(exc).__name__}: {exc}"[:200]
                if self.connections == before and refused_before_tls(exc):
                    hint = BUSY_WAIT  # a busy node shed it before TLS: wait as for its 503
            self.state = "offline"
            self.last_error = why
            if self.on_lost is not None:
                await self.on_lost(why)
            attempt, delay = next_wait(
                attempt, self.connections > before, hint, (self.reconnect_min, self.reconnect_max)
            )
            self._notify()
            await _wait(stop, delay)

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
