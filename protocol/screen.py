"""The screen view on the wire: binary screen frames (agent → server → engineer) and the engineer's
input events (engineer → server → agent, inside a `screen.input` message).

A screen frame is the changed part of one captured picture of one monitor, as JPEG tiles:

    offset  size  field
    0       4     magic b"RMES"
    4       1     version (1)
    5       1     flags: bit 0 = key frame (the tiles cover the whole monitor); other bits must be 0
    6       1     n = length of the view action's id (1..64)
    7       n     action id (ASCII, the `Id` alphabet)
    7+n     4     sequence number, unsigned big-endian (per view, from 0)
    11+n    2     monitor width in pixels
    13+n    2     monitor height in pixels
    15+n    2     t = number of tiles (0..MAX_TILES)
    17+n    ...   t tiles, each: x u16, y u16, w u16, h u16, length u32, then `length` bytes of JPEG

Tiles lie inside the monitor (x + w ≤ width, y + h ≤ height). Frames carry pixels only: no file, no
listing, no text the user typed — and the agent captures them only while its on-screen indicator is
shown (`agent/screen`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.binary import BINARY_HEAD, ID_RE, BinaryHead, read_binary_head
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.limits import MAX_ID_LENGTH

SCREEN_MAGIC = b"RMES"
SCREEN_VERSION = 1
FLAG_KEY = 0x01
MAX_TILES = 4096
MAX_SCREEN_FRAME = (2 << 20) - 4096  # under the server socket's 2 MiB; bigger changes are re-encoded
MAX_SCREEN_SIDE = 16384
MAX_INPUT_EVENTS = 64
MAX_INPUT_TEXT = 1000

_SCREEN = BinaryHead(
    SCREEN_MAGIC, SCREEN_VERSION, FLAG_KEY, MAX_SCREEN_FRAME, "screen frame", "screen frame", "a screen frame"
)
_META = struct.Struct(">IHHH")
_TILE = struct.Struct(">HHHHI")


@dataclass(frozen=True, slots=True)
class Tile:
    x: int
    y: int
    w: int
    h: int
    jpeg: bytes | memoryview


@dataclass(frozen=True, slots=True)
class ScreenFrame:
    action_id: str
    seq: int
    width: int
    height: int
    tiles: tuple[Tile, ...]
    key: bool = False

    @property
    def payload_bytes(self) -> int:
        return sum(len(t.jpeg) for t in self.tiles)


def is_screen_frame(frame: bytes | bytearray | memoryview) -> bool:
    return bytes(memoryview(frame)[:4]) == SCREEN_MAGIC


def decode_screen(frame: bytes | bytearray | memoryview) -> ScreenFrame:
    """Parse one binary screen frame. Raises `RemoteProtocolError` on any bad input."""
    try:
        return _decode(memoryview(frame).cast("B"))
    except RemoteProtocolError:
        raise
    except Exception as exc:
        raise RemoteProtocolError(f"undecodable screen frame ({type(exc).__name__})") from None


def _decode(view: memoryview) -> ScreenFrame:
    flags, action_id, pos = read_binary_head(view, _SCREEN, _META.size)
    seq, width, height, count = _META.unpack_from(view, pos)
    pos += _META.size
    if not (1 <= width <= MAX_SCREEN_SIDE and 1 <= height <= MAX_SCREEN_SIDE):
        raise RemoteProtocolError("screen frame monitor size out of range")
    if count > MAX_TILES:
        raise RemoteProtocolError(f"screen frame with more than {MAX_TILES} tiles")
    tiles: list[Tile] = []
    for _ in range(count):
        if len(view) < pos + _TILE.size:
            raise RemoteProtocolError("screen frame truncated inside a tile header")
        x, y, w, h, size = _TILE.unpack_from(view, pos)
        pos += _TILE.size
        if w == 0 or h == 0 or x + w > width or y + h > height:
            raise RemoteProtocolError("screen tile outside the monitor")
        if len(view) < pos + size:
            raise RemoteProtocolError("screen frame truncated inside a tile")
        tiles.append(Tile(x, y, w, h, view[pos : pos + size]))
        pos += size
    if pos != len(view):
        raise RemoteProtocolError("screen frame has bytes after its last tile")
    return ScreenFrame(action_id, seq, width, height, tuple(tiles), bool(flags & FLAG_KEY))


def encode_screen(frame: ScreenFrame) -> bytes:
    """Serialise a screen frame. Raises `LocalProtocolError` on out-of-range fields."""
    raw_id = frame.action_id.encode("ascii", "replace")
    if not 1 <= len(raw_id) <= MAX_ID_LENGTH or not ID_RE.fullmatch(raw_id):
        raise LocalProtocolError("screen frame action id is not a valid id")
    if not (1 <= frame.width <= MAX_SCREEN_SIDE and 1 <= frame.height <= MAX_SCREEN_SIDE):
        raise LocalProtocolError("screen frame monitor size out of range")
    if len(frame.tiles) > MAX_TILES:
        raise LocalProtocolError("too many tiles in one screen frame")
    parts = [
        BINARY_HEAD.pack(SCREEN_MAGIC, SCREEN_VERSION, FLAG_KEY if frame.key else 0, len(raw_id)),
        raw_id,
        _META.pack(frame.seq & 0xFFFFFFFF, frame.width, frame.height, len(frame.tiles)),
    ]
    for t in frame.tiles:
        if t.w == 0 or t.h == 0 or t.x + t.w > frame.width or t.y + t.h > frame.height:
            raise LocalProtocolError("screen tile outside the monitor")
        parts += [_TILE.pack(t.x, t.y, t.w, t.h, len(t.jpeg)), bytes(t.jpeg)]
    data = b"".join(parts)
    if len(data) > MAX_SCREEN_FRAME:
        raise LocalProtocolError(f"screen frame of {len(data)} bytes exceeds the limit")
    return data


# ---- the engineer's input events --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Coord = Annotated[int, Field(ge=0, lt=MAX_SCREEN_SIDE)]
# A key by its X11 keysym name ("Return", "BackSpace", "a", "F5") — the console maps browser key codes.
KeyName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")]


class PointerMove(_Strict):
    """Move the pointer to (x, y), in pixels of the viewed monitor."""

    type: Literal["move"] = "move"
    x: Coord
    y: Coord


class PointerButton(_Strict):
    type: Literal["button"] = "button"
    x: Coord
    y: Coord
    button: Literal[1, 2, 3]  # left, middle, right
    down: bool


class Wheel(_Strict):
    type: Literal["wheel"] = "wheel"
    x: Coord
    y: Coord
    dy: Annotated[int, Field(ge=-20, le=20)]  # notches; negative is up


class Key(_Strict):
    """A non-text key (Return, arrows, Ctrl…) pressed or released."""

    type: Literal["key"] = "key"
    key: KeyName
    down: bool


class TypeText(_Strict):
    """Text typed, injected as text whatever the user's keyboard layout (Chinese included)."""

    type: Literal["text"] = "text"
    text: Annotated[str, Field(min_length=1, max_length=MAX_INPUT_TEXT)]


InputEvent = Annotated[PointerMove | PointerButton | Wheel | Key | TypeText, Field(discriminator="type")]


__all__ = [
    "FLAG_KEY",
    "MAX_INPUT_EVENTS",
    "MAX_SCREEN_FRAME",
    "SCREEN_MAGIC",
    "InputEvent",
    "Key",
    "PointerButton",
    "PointerMove",
    "ScreenFrame",
    "Tile",
    "TypeText",
    "Wheel",
    "decode_screen",
    "encode_screen",
    "is_screen_frame",
]
