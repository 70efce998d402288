"""The RME wire protocol — sans-I/O: message models, codec, direction table, limits, lifecycles.

No sockets and no asyncio here; the agent and the server do the I/O around `Connection`.
The spec is `protocol/SPEC.md`; test vectors are in `protocol/vectors/`.
"""

from protocol.auth import auth_transcript, b64url, b64url_decode, server_end_point
from protocol.codec import FileChunk, decode, decode_chunk, encode, encode_chunk, message_type
from protocol.connection import Connection, State, negotiate
from protocol.directions import CHUNK, DIRECTION_TABLE, Peer, is_allowed, relay_target
from protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocol.lifecycle import (
    ActionState,
    SessionState,
    advance_action,
    advance_session,
    session_admits,
)
from protocol.messages import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    Envelope,
    Message,
    new_id,
)

__all__ = [
    "CHUNK",
    "DIRECTION_TABLE",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "ActionState",
    "Connection",
    "Envelope",
    "FileChunk",
    "LocalProtocolError",
    "Message",
    "Peer",
    "ProtocolError",
    "RemoteProtocolError",
    "SessionState",
    "State",
    "advance_action",
    "advance_session",
    "auth_transcript",
    "b64url",
    "b64url_decode",
    "decode",
    "decode_chunk",
    "encode",
    "encode_chunk",
    "is_allowed",
    "message_type",
    "negotiate",
    "new_id",
    "relay_target",
    "server_end_point",
    "session_admits",
]
