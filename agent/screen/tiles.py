"""Which parts of a picture changed: the picture is cut into square tiles, a tile that differs from the
same tile of the previous picture is changed, and changed tiles next to each other in a row are merged
into one rectangle (fewer, larger JPEGs: less header overhead, better compression). Pure, numpy only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TILE = 32

Picture = npt.NDArray[np.uint8]  # (height, width, 4) BGRA, as mss gives it


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


def changed_mask(previous: Picture | None, current: Picture, tile: int = TILE) -> npt.NDArray[np.bool_]:
    """(rows, cols) booleans: True where a tile differs (everything when there is no previous picture)."""
    height, width = current.shape[:2]
    rows, cols = -(-height // tile), -(-width // tile)
    if previous is None or previous.shape != current.shape:
        return np.ones((rows, cols), dtype=bool)
    # Compare as 32-bit pixels, pad to whole tiles, then "any difference" per tile.
    diff = previous.view(np.uint32)[..., 0] != current.view(np.uint32)[..., 0]
    padded = np.zeros((rows * tile, cols * tile), dtype=bool)
    padded[:height, :width] = diff
    changed: npt.NDArray[np.bool_] = np.asarray(padded.reshape(rows, tile, cols, tile).any(axis=(1, 3)))
    return changed


WHOLE_ABOVE = 0.4  # past this share of changed tiles, one JPEG of the whole picture is smaller and cheaper


def rects(mask: npt.NDArray[np.bool_], width: int, height: int, tile: int = TILE) -> list[Rect]:
    """The changed tiles as rectangles: runs of changed tiles in one row, clipped to the picture — or
    the whole picture when most of it changed (a scroll, a new window: strips of 64 rows compress worse
    than one JPEG, measured in bench/screen.py)."""
    if mask.size and float(mask.mean()) > WHOLE_ABOVE:
        return [Rect(0, 0, width, height)]
    out: list[Rect] = []
    for row in range(mask.shape[0]):
        line = mask[row]
        col = 0
        while col < line.shape[0]:
            if not line[col]:
                col += 1
                continue
            start = col
            while col < line.shape[0] and line[col]:
                col += 1
            x, y = start * tile, row * tile
            out.append(Rect(x, y, min(col * tile, width) - x, min(y + tile, height) - y))
    return out
