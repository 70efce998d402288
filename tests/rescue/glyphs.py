"""Is Chinese drawn as Chinese on the PC's screen? Read from a QEMU `screendump` of the rescue screen,
whose first line is `==== RME 远程救援 / RME Rescue ====`: the Linux console draws each of the four
characters as the same replacement box, fbterm draws four different glyphs. The cell width comes from
the line's own "====" (four equal glyphs, one cell apart); the characters sit in cells 9-16, two each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

INK = 96  # grey level above which a pixel is text (the screen is light on black)
FIRST_CJK_CELL = len("==== RME ")


def title_glyphs(shot: Path) -> list[NDArray[np.bool_]]:
    """The four Chinese characters of the title line, as ink bitmaps."""
    ink: NDArray[np.bool_] = np.asarray(Image.open(shot).convert("L")) > INK
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        raise ValueError("the screen is blank")
    top = bottom = int(rows[0])
    while bottom < ink.shape[0] and ink[bottom].any():
        bottom += 1
    line = ink[top:bottom]
    columns: list[bool] = np.asarray(line.any(axis=0)).tolist()
    starts = [x for x in range(len(columns)) if columns[x] and (x == 0 or not columns[x - 1])]
    if len(starts) < 4:
        raise ValueError("no title line")
    cell = starts[1] - starts[0]
    if cell <= 0 or starts[2] - starts[1] != cell or starts[3] - starts[2] != cell:
        raise ValueError(f"the title does not start with four equal glyphs: {starts[:4]}")
    return [line[:, (FIRST_CJK_CELL + 2 * k) * cell : (FIRST_CJK_CELL + 2 * k + 2) * cell] for k in range(4)]


def draws_chinese(shot: Path) -> bool:
    """Four characters with ink, each different from the others by at least a tenth of its pixels."""
    try:
        glyphs = title_glyphs(shot)
    except ValueError:
        return False
    if any(g.mean() < 0.02 for g in glyphs):
        return False
    return all(
        (glyphs[i] != glyphs[j]).mean() > 0.1 for i in range(len(glyphs)) for j in range(i + 1, len(glyphs))
    )
