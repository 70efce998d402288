"""A sans-I/O protocol connection: frames in, messages out, and the rules of who says what when.

Theory of operation (after h11): a `Connection` is one side of one WebSocket. It does no I/O. The
caller feeds it each received frame (`receive`) and asks it to serialise each message it wants to send
(`send`); both check the frame against the direction table (`protocol.directions`) and the connection
state table below, and raise `RemoteProtocolError` / `LocalProtocolError` when either is broken. The
agent's client loop and the server's WebSocket endpoints are thin loops around this class.

States (the same on both ends):

    AWAIT_HELLO ──hello──▶ AWAIT_WELCOME ──welcome──▶ HANDSHAKE ──auth.ok──▶ READY
                                                 └──(engineer)──────────────▶ READY
    any state ──close()──▶ CLOSED

HANDSHAKE is where a device proves its key (auth.*) or enrolls (enroll.*); engineers authenticate over
HTTP before the WebSocket opens, so their connection goes straight to READY. After `welcome`, every
frame must carry the negotiated version.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from protocol.codec import FileChunk, decode, decode_chunk, encode, encode_chunk, message_type
from protocol.directions import CHUNK, DIRECTION_TABLE, SCREEN, Peer, is_allowed
from protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocol.messages import SUPPORTED_VERSIONS, Envelope, Hello, Message, Welcome, WelcomeBody
from protocol.screen import ScreenFrame, decode_screen, encode_screen, is_screen_frame


class State(StrEnum):
    AWAIT_HELLO = "await_hello"
    AWAIT_WELCOME = "await_welcome"
    HANDSHAKE = "handshake"
    READY = "ready"
    CLOSED = "closed"


HANDSHAKE_TYPES = frozenset({"auth.challenge", "auth.response", "auth.ok", "enroll.request", "enroll.ok"})
_ANYTIME = frozenset({"error"})
_AFTER_WELCOME = frozenset({"heartbeat", "error"})

# Which message types each state admits (in either direction; the direction table does the rest).
ALLOWED_IN_STATE: Mapping[State, frozenset[str]] = MappingProxyType(
    {
        State.AWAIT_HELLO: frozenset({"hello"}) | _ANYTIME,
        State.AWAIT_WELCOME: frozenset({"welcome"}) | _ANYTIME,
        State.HANDSHAKE: HANDSHAKE_TYPES | _AFTER_WELCOME,
        State.READY: frozenset(DIRECTION_TABLE) - HANDSHAKE_TYPES - {"hello", "welcome", CHUNK, SCREEN},
        State.CLOSED: frozenset(),
    }
)

# Messages that move the state on, whichever side sent them.
TRANSITIONS: Mapping[tuple[State, str], State] = MappingProxyType(
    {
        (State.AWAIT_HELLO, "hello"): State.AWAIT_WELCOME,
        (State.HANDSHAKE, "auth.ok"): State.READY,
        # (State.AWAIT_WELCOME, "welcome") depends on the client's role: see _after_welcome().
    }
)


def negotiate(offered: list[int], supported: tuple[int, ...] = SUPPORTED_VERSIONS) -> int:
    """The highest version both sides speak; ProtocolError if there is none."""
    common = set(offered) & set(supported)
    if not common:
        raise ProtocolError(f"no common protocol version (peer offers {sorted(offered)[:8]})")
    return max(common)


class Connection:
    """One side of one RME WebSocket connection. `local` is us; `remote` is the peer."""

    def __init__(self, local: Peer, remote: Peer, supported_versions: tuple[int, ...] = SUPPORTED_VERSIONS):
        if Peer.SERVER not in (local, remote) or local == remote:
            raise ValueError("a connection joins the server and an agent or an engineer")
        self.local = local
        self.remote = remote
        self.client = remote if local is Peer.SERVER else local
        self.supported_versions = supported_versions
        self.state = State.AWAIT_HELLO
        self.version: int | None = None
        self.offered_versions: list[int] = []

    # -- receiving --------------------------------------------------------------------------------

    def receive(self, frame: str | bytes | bytearray | memoryview) -> Message | FileChunk | ScreenFrame:
        """A text frame arrives as `str`, a binary one as bytes (as `websockets` delivers them)."""
        if isinstance(frame, str):
            return self.receive_text(frame)
        return self.receive_binary(frame)

    def receive_text(self, frame: str | bytes | bytearray | memoryview) -> Message:
        self._check_open(RemoteProtocolError)
        message = decode(frame)
        self._check(message, self.remote, self.local, RemoteProtocolError)
        self._advance(message, RemoteProtocolError)
        return message

    def receive_binary(self, frame: bytes | bytearray | memoryview) -> FileChunk | ScreenFrame:
        """A binary frame: a file chunk (magic `RMEC`) or a screen frame (`RMES`), each on its own hops."""
        self._check_open(RemoteProtocolError)
        if is_screen_frame(frame):
            screen = decode_screen(frame)
            self._check_binary(SCREEN, self.remote, self.local, RemoteProtocolError)
            return screen
        chunk = decode_chunk(frame)
        self._check_chunk(self.remote, self.local, RemoteProtocolError)
        return chunk

    # -- sending ----------------------------------------------------------------------------------

    def send(self, message: Envelope) -> bytes:
        """Check and serialise a message we want to send; the caller writes the bytes as a text frame."""
        self._check_open(LocalProtocolError)
        self._check(message, self.local, self.remote, LocalProtocolError)
        data = encode(message)
        self._advance(message, LocalProtocolError)
        return data

    def send_chunk(self, chunk: FileChunk) -> bytes:
        self._check_open(LocalProtocolError)
        self._check_chunk(self.local, self.remote, LocalProtocolError)
        return encode_chunk(chunk)

    def send_screen(self, frame: ScreenFrame) -> bytes:
        self._check_open(LocalProtocolError)
        self._check_binary(SCREEN, self.local, self.remote, LocalProtocolError)
        return encode_screen(frame)

    def welcome_for(self, hello: Hello, server: str, heartbeat_s: int = 30) -> Welcome:
        """The server's answer to a client's hello: the highest common version (or ProtocolError)."""
        try:
            version = negotiate(hello.body.versions, self.supported_versions)
        except ProtocolError as exc:
            raise RemoteProtocolError(exc.reason) from None
        return Welcome(v=version, body=WelcomeBody(version=version, server=server, heartbeat_s=heartbeat_s))

    def close(self) -> None:
        self.state = State.CLOSED

    # -- the rules --------------------------------------------------------------------------------

    def _check_open(self, error: type[ProtocolError]) -> None:
        if self.state is State.CLOSED:
            raise error("connection is closed")

    def _check(self, message: Envelope, sender: Peer, receiver: Peer, error: type[ProtocolError]) -> None:
        msg_type = message_type(message)
        if not is_allowed(msg_type, sender, receiver):
            raise error(f"{msg_type} may not travel {sender} → {receiver}")
        if msg_type not in ALLOWED_IN_STATE[self.state]:
            raise error(f"{msg_type} not allowed in state {self.state}")
        if self.version is not None and message.v != self.version:
            raise error(f"{msg_type} carries version {message.v}, negotiated {self.version}")
        if isinstance(message, Hello) and message.body.role != self.client.value:
            raise error(f"hello claims role {message.body.role!r} on an {self.client} connection")

    def _check_chunk(self, sender: Peer, receiver: Peer, error: type[ProtocolError]) -> None:
        if not is_allowed(CHUNK, sender, receiver):
            raise error(f"file chunks may not travel {sender} → {receiver}")
        if self.state is not State.READY:
            raise error(f"file chunk not allowed in state {self.state}")

    def _check_binary(self, kind: str, sender: Peer, receiver: Peer, error: type[ProtocolError]) -> None:
        if not is_allowed(kind, sender, receiver):
            raise error(f"{kind} may not travel {sender} → {receiver}")
        if self.state is not State.READY:
            raise error(f"{kind} not allowed in state {self.state}")

    def _advance(self, message: Envelope, error: type[ProtocolError]) -> None:
        msg_type = message_type(message)
        if isinstance(message, Hello):
            self.offered_versions = list(message.body.versions)
        if isinstance(message, Welcome):
            self._after_welcome(message, error)
            return
        self.state = TRANSITIONS.get((self.state, msg_type), self.state)

    def _after_welcome(self, welcome: Welcome, error: type[ProtocolError]) -> None:
        version = welcome.body.version
        if version not in self.offered_versions or version not in self.supported_versions:
            raise error(f"welcome picks version {version}, which was not offered")
        if welcome.v != version:
            raise error("welcome's envelope version differs from the version it picks")
        self.version = version
        self.state = State.HANDSHAKE if self.client is Peer.AGENT else State.READY


__all__ = ["ALLOWED_IN_STATE", "HANDSHAKE_TYPES", "TRANSITIONS", "Connection", "State", "negotiate"]
