"""The header every binary frame type starts with (file chunks `RMEC`, screen frames `RMES`): magic,
version, flags, action-id length, then the id. One reader checks it for both, each type in its own
words (the vectors check them)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from protocol.errors import RemoteProtocolError
from protocol.limits import MAX_ID_LENGTH

BINARY_HEAD = struct.Struct(">4sBBB")  # magic, version, flags, id length
ID_RE = re.compile(rb"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class BinaryHead:
    """What a binary frame type's common header must hold — magic, version, flags, action id — and the
    words its errors use (the vectors check them)."""

    magic: bytes
    version: int
    flag_mask: int  # the flags this type knows
    max_size: int
    frame: str  # "chunk frame"
    noun: str  # "chunk": "unsupported chunk version …", "chunk action id …"
    article: str  # "a file chunk": "binary frame is not a file chunk (bad magic)"


def read_binary_head(view: memoryview, head: BinaryHead, fixed_after_id: int) -> tuple[int, str, int]:
    """Check a binary frame's common header (`>4sBBB` magic, version, flags, id length, then the id)
    and that `fixed_after_id` more bytes follow; return the flags, the action id and where the id ends.
    Raises `RemoteProtocolError` with the type's own words."""
    if len(view) > head.max_size:
        raise RemoteProtocolError(f"{head.frame} larger than {head.max_size} bytes")
    if len(view) < BINARY_HEAD.size:
        raise RemoteProtocolError(f"{head.frame} shorter than its header")
    magic, version, flags, id_len = BINARY_HEAD.unpack_from(view)
    if magic != head.magic:
        raise RemoteProtocolError(f"binary frame is not {head.article} (bad magic)")
    if version != head.version:
        raise RemoteProtocolError(f"unsupported {head.noun} version {version}")
    if flags & ~head.flag_mask:
        raise RemoteProtocolError(f"unknown {head.noun} flags 0x{flags:02x}")
    if not 1 <= id_len <= MAX_ID_LENGTH:
        raise RemoteProtocolError(f"{head.noun} action id length out of range")
    id_end = BINARY_HEAD.size + id_len
    if len(view) < id_end + fixed_after_id:
        raise RemoteProtocolError(f"{head.frame} truncated inside its header")
    raw_id = bytes(view[BINARY_HEAD.size : id_end])
    if not ID_RE.fullmatch(raw_id):
        raise RemoteProtocolError(f"{head.noun} action id has characters outside the id alphabet")
    return flags, raw_id.decode("ascii"), id_end
