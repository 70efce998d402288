"""Which parts of a picture changed: the picture is cut into square tiles, a tile that differs from the
same tile of the previous picture is changed, and changed tiles next to each other in a row are merged
into one rectangle (fewer, larger JPEGs: less header overhead, better compression).

Pure and numpy-free (the single-file agent cannot carry numpy's ~60 MB): a picture is the BGRA bytes
mss gives. The diff compares byte ranges, coarse to fine — a band of `tile` whole rows first (one
`memcmp` in C, no copy; an unchanged band, most of a screen while typing, costs nothing more), then
each row of a changed band, then runs of 8 tiles of a changed row, then each not-yet-changed tile of
a changed run; a band whose tiles have all changed is left at once. Measured in bench/screen_codec.py
against the numpy diff it replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

TILE = 32


@dataclass(frozen=True, slots=True)
class Picture:
    """One grab: `width` × `height` pixels, BGRA, rows of `width * 4` bytes (mss's `shot.bgra`)."""

    width: int
    height: int
    data: bytes

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or len(self.data) != self.width * self.height * 4:
            raise ValueError(
                f"a {self.width}×{self.height} BGRA picture needs {self.width * self.height * 4} bytes"
            )

    @property
    def stride(self) -> int:
        return self.width * 4


Mask = list[list[bool]]  # [row][col]: True where a tile changed


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


def grid(width: int, height: int, tile: int = TILE) -> tuple[int, int]:
    """(rows, cols) of tiles covering the picture; the last row and column may be partial."""
    return -(-height // tile), -(-width // tile)


CHUNK = 8  # tiles compared at once inside a changed row before looking at each tile


def changed_mask(
    previous: Picture | None, current: Picture, tile: int = TILE, enough: int | None = None
) -> Mask:
    """Per tile: True where it differs (everything when there is no previous picture of the same size).
    `enough`: once that many tiles are known to have changed, stop and call everything changed (the
    caller sends the whole picture past that share anyway, `rects`)."""
    rows, cols = grid(current.width, current.height, tile)
    if previous is None or (previous.width, previous.height) != (current.width, current.height):
        return [[True] * cols for _ in range(rows)]
    old, new, stride, step = previous.data, memoryview(current.data), current.stride, tile * 4
    # `old.startswith(new[a:b], a)`: "old[a:b] == new[a:b]" as one memcmp, without copying either side
    # (a memoryview slice is a view; bytes slices would copy, memoryview == compares item by item).
    chunks = [(c, min(c + CHUNK, cols)) for c in range(0, cols, CHUNK)]
    found = 0
    mask: Mask = []
    for row in range(rows):
        line = [False] * cols
        mask.append(line)
        top, bottom = row * tile * stride, min(current.height, (row + 1) * tile) * stride
        if old.startswith(new[top:bottom], top):
            continue
        open_chunks = [[c0, c1, c1 - c0] for c0, c1 in chunks]  # [first, end, tiles not yet changed]
        for start in range(top, bottom, stride):
            end = start + stride
            if old.startswith(new[start:end], start):
                continue
            for chunk in open_chunks:
                c0, c1, left = chunk
                if left == 0:
                    continue
                a, b = start + c0 * step, min(start + c1 * step, end)
                if old.startswith(new[a:b], a):
                    continue
                for col in range(c0, c1):
                    a = start + col * step
                    if not line[col] and not old.startswith(new[a : min(a + step, end)], a):
                        line[col] = True
                        chunk[2] -= 1
                        found += 1
            open_chunks = [chunk for chunk in open_chunks if chunk[2]]
            if not open_chunks:
                break
        if enough is not None and found >= enough:
            return [[True] * cols for _ in range(rows)]
    return mask


WHOLE_ABOVE = 0.4  # past this share of changed tiles, one JPEG of the whole picture is smaller and cheaper


def rects(mask: Mask, width: int, height: int, tile: int = TILE) -> list[Rect]:
    """The changed tiles as rectangles: runs of changed tiles in one row, clipped to the picture — or
    the whole picture when most of it changed (a scroll, a new window: strips of 64 rows compress worse
    than one JPEG, measured in bench/screen.py)."""
    total = sum(len(line) for line in mask)
    if total and sum(sum(line) for line in mask) / total > WHOLE_ABOVE:
        return [Rect(0, 0, width, height)]
    out: list[Rect] = []
    for row, line in enumerate(mask):
        col = 0
        while col < len(line):
            if not line[col]:
                col += 1
                continue
            start = col
            while col < len(line) and line[col]:
                col += 1
            x, y = start * tile, row * tile
            out.append(Rect(x, y, min(col * tile, width) - x, min(y + tile, height) - y))
    return out
