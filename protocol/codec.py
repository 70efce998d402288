"""Bytes ⇄ messages. `decode()` either returns a fully valid message or raises `RemoteProtocolError`.

Text frames are UTF-8 JSON objects (the envelope of `protocol.messages`). Parsing is deliberately
stricter than plain JSON: duplicate keys, NaN/Infinity and a top level that is not an object are
rejected, so every implementation reads a frame the same way (no parser-differential smuggling).

Binary frames carry pushed-file chunks:

    offset  size  field
    0       4     magic b"RMEC"
    4       1     version (1)
    5       1     flags: bit 0 = last chunk of the file; other bits must be 0
    6       1     n = length of the action id (1..64)
    7       n     action id (ASCII, the `Id` alphabet)
    7+n     8     offset of this chunk in the file, unsigned big-endian
    15+n    ...   payload, 0..MAX_CHUNK_PAYLOAD bytes
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from protocol.binary import BINARY_HEAD, ID_RE, BinaryHead, read_binary_head
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.limits import MAX_CHUNK_PAYLOAD, MAX_FILE_SIZE, MAX_ID_LENGTH, MAX_TEXT_FRAME
from protocol.messages import MESSAGE_TYPES, SUPPORTED_VERSIONS, Envelope, Message

CHUNK_MAGIC = b"RMEC"
CHUNK_VERSION = 1
FLAG_LAST = 0x01
_CHUNK_OFFSET = struct.Struct(">Q")
MAX_CHUNK_FRAME = BINARY_HEAD.size + MAX_ID_LENGTH + _CHUNK_OFFSET.size + MAX_CHUNK_PAYLOAD

_MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


@dataclass(frozen=True, slots=True)
class FileChunk:
    """A slice of a pushed file. `payload` may be a view into the received frame (no copy)."""

    action_id: str
    offset: int
    payload: bytes | memoryview
    last: bool = False

    @property
    def end(self) -> int:
        return self.offset + len(self.payload)


# ---- text frames --------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:40]!r}")
            seen.add(key)
    return obj


def _error_reason(msg_type: str, exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(frame)"
    return f"invalid {msg_type}: {where}: {first['msg']}"[:300]


# One decoder for every frame: `json.loads` with hooks builds a new JSONDecoder (and its scanner) per call.
_JSON = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)


def decode(frame: bytes | bytearray | memoryview | str) -> Message:
    """Parse and validate one text frame. Raises `RemoteProtocolError` (with a one-line reason) on any
    bad input — never another exception, never a partially valid message."""
    try:
        return _decode(frame)
    except RemoteProtocolError:
        raise
    except Exception as exc:  # the last line of defence: the decoder never leaks another exception type
        raise RemoteProtocolError(f"undecodable frame ({type(exc).__name__})") from None


def _decode(frame: bytes | bytearray | memoryview | str) -> Message:
    if isinstance(frame, str):
        if len(frame) > MAX_TEXT_FRAME:
            raise RemoteProtocolError(f"text frame larger than {MAX_TEXT_FRAME} bytes")
        try:
            size = len(frame.encode("utf-8"))
        except UnicodeEncodeError:
            raise RemoteProtocolError("text frame is not valid UTF-8 (lone surrogate)") from None
        if size > MAX_TEXT_FRAME:
            raise RemoteProtocolError(f"text frame larger than {MAX_TEXT_FRAME} bytes")
        text = frame  # valid UTF-8 once encoded, so decoding those bytes would give `frame` back
    else:
        data = bytes(frame)
        if len(data) > MAX_TEXT_FRAME:
            raise RemoteProtocolError(f"text frame larger than {MAX_TEXT_FRAME} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"text frame is not valid UTF-8 at byte {exc.start}") from None
    try:
        if text.startswith("\ufeff"):  # as json.loads does
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        obj = _JSON.decode(text)
    except RecursionError:
        raise RemoteProtocolError("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError, as are our hooks' complaints
        raise RemoteProtocolError(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("a frame must be a JSON object")
    msg_type = obj.get("type")
    if not isinstance(msg_type, str) or msg_type not in MESSAGE_TYPES:
        shown = repr(msg_type)[:60]
        raise RemoteProtocolError(f"unknown message type {shown}")
    version = obj.get("v")
    # A hello may come from a newer peer: its version is settled by negotiation, not here.
    if msg_type != "hello" and (type(version) is not int or version not in SUPPORTED_VERSIONS):
        raise RemoteProtocolError(f"unsupported protocol version {repr(version)[:20]}")
    try:
        message: Message = MESSAGE_TYPES[msg_type].model_validate(obj, strict=True)  # type: ignore[assignment]
    except ValidationError as exc:
        raise RemoteProtocolError(_error_reason(msg_type, exc)) from None
    return message


def encode(message: Envelope) -> bytes:
    """Serialise a message to a text frame's UTF-8 bytes. Raises `LocalProtocolError` if it is too big."""
    data = message.model_dump_json().encode("utf-8")
    if len(data) > MAX_TEXT_FRAME:
        raise LocalProtocolError(f"{message_type(message)} frame of {len(data)} bytes exceeds the limit")
    return data


def message_type(message: Envelope) -> str:
    return str(getattr(message, "type", type(message).__name__))


# ---- binary frames ------------------------------------------------------------------------------


_CHUNK = BinaryHead(
    CHUNK_MAGIC, CHUNK_VERSION, FLAG_LAST, MAX_CHUNK_FRAME, "chunk frame", "chunk", "a file chunk"
)


def decode_chunk(frame: bytes | bytearray | memoryview) -> FileChunk:
    """Parse one binary file-chunk frame. Raises `RemoteProtocolError` on any bad input."""
    try:
        return _decode_chunk(memoryview(frame).cast("B"))
    except RemoteProtocolError:
        raise
    except Exception as exc:
        raise RemoteProtocolError(f"undecodable chunk frame ({type(exc).__name__})") from None


def _decode_chunk(view: memoryview) -> FileChunk:
    flags, action_id, id_end = read_binary_head(view, _CHUNK, _CHUNK_OFFSET.size)
    (offset,) = _CHUNK_OFFSET.unpack_from(view, id_end)
    payload = view[id_end + _CHUNK_OFFSET.size :]
    if len(payload) > MAX_CHUNK_PAYLOAD:
        raise RemoteProtocolError(f"chunk payload larger than {MAX_CHUNK_PAYLOAD} bytes")
    if offset + len(payload) > MAX_FILE_SIZE:
        raise RemoteProtocolError("chunk reaches beyond the largest allowed file")
    return FileChunk(action_id, offset, payload, bool(flags & FLAG_LAST))


def encode_chunk(chunk: FileChunk) -> bytes:
    """Serialise a file chunk to a binary frame. Raises `LocalProtocolError` on out-of-range fields."""
    raw_id = chunk.action_id.encode("ascii", "replace")
    if not 1 <= len(raw_id) <= MAX_ID_LENGTH or not ID_RE.fullmatch(raw_id):
        raise LocalProtocolError("chunk action id is not a valid id")
    if len(chunk.payload) > MAX_CHUNK_PAYLOAD:
        raise LocalProtocolError(f"chunk payload over {MAX_CHUNK_PAYLOAD} bytes")
    if chunk.offset < 0 or chunk.end > MAX_FILE_SIZE:
        raise LocalProtocolError("chunk offset out of range")
    head = BINARY_HEAD.pack(CHUNK_MAGIC, CHUNK_VERSION, FLAG_LAST if chunk.last else 0, len(raw_id))
    return b"".join((head, raw_id, _CHUNK_OFFSET.pack(chunk.offset), chunk.payload))


__all__ = [
    "CHUNK_MAGIC",
    "MAX_CHUNK_FRAME",
    "FileChunk",
    "decode",
    "decode_chunk",
    "encode",
    "encode_chunk",
    "message_type",
]
