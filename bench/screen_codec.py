"""The screen view's per-picture work without numpy (bytes-slice tile diff + Pillow JPEG, what the
single-file agent ships) against the numpy diff + simplejpeg it replaced — same pictures, same run.

Pictures: a 1920×1080 white "editor" full of text drawn with Pillow. Workloads: nothing changed, typing
(a few characters added to one line), scrolling (every line moves up by one). Per workload: ms of CPU
per picture for the diff, for the encoding, and the bytes of the frame's tiles.
Run: .venv/bin/python -m bench.screen_codec
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import simplejpeg
from PIL import Image, ImageDraw

from agent.screen.encoder import encode_tiles
from agent.screen.tiles import TILE, WHOLE_ABOVE, Picture, Rect, changed_mask, grid, rects

W, H, LINE, QUALITY, ROUNDS = 1920, 1080, 18, 65, 15
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "0123456789",
    "(",
    ")",
    "{",
    "}",
    ";",
    "=",
]


def editor(lines: list[str]) -> Picture:
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((8, 4 + i * LINE), line, fill=(20, 20, 20))
    return Picture(W, H, image.convert("RGBA").tobytes("raw", "BGRA"))


def text(n: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(i % 23 + 5)) * 2 for i in range(n)]


def numpy_path(before: Picture, after: Picture) -> tuple[float, float, int]:
    def arr(p: Picture) -> np.ndarray:
        return np.frombuffer(p.data, dtype=np.uint8).reshape(p.height, p.width, 4)

    a, b = arr(before), arr(after)
    t0 = time.process_time()
    rows, cols = -(-H // TILE), -(-W // TILE)
    diff = a.view(np.uint32)[..., 0] != b.view(np.uint32)[..., 0]
    padded = np.zeros((rows * TILE, cols * TILE), dtype=bool)
    padded[:H, :W] = diff
    mask = np.asarray(padded.reshape(rows, TILE, cols, TILE).any(axis=(1, 3)))
    listed: list[list[bool]] = [[bool(v) for v in mask[r]] for r in range(rows)]
    changed = rects(listed, W, H) if mask.any() else []
    t1 = time.process_time()
    size = 0
    for r in changed:
        block = np.ascontiguousarray(b[r.y : r.y + r.h, r.x : r.x + r.w])
        size += len(
            simplejpeg.encode_jpeg(
                block, quality=QUALITY, colorspace="BGRA", colorsubsampling="420", fastdct=True
            )
        )
    return t1 - t0, time.process_time() - t1, size


def bytes_path(before: Picture, after: Picture) -> tuple[float, float, int]:
    t0 = time.process_time()
    rows, cols = grid(W, H)
    mask = changed_mask(before, after, enough=int(rows * cols * WHOLE_ABOVE) + 1)  # as capture.py does
    changed: list[Rect] = rects(mask, W, H) if any(any(line) for line in mask) else []
    t1 = time.process_time()
    size = sum(len(t.jpeg) for t in encode_tiles(after, changed, QUALITY))
    return t1 - t0, time.process_time() - t1, size


def measure(
    path: Callable[[Picture, Picture], tuple[float, float, int]], pairs: list[tuple[Picture, Picture]]
) -> str:
    runs = [path(a, b) for _ in range(ROUNDS) for a, b in pairs]
    diff = statistics.median(r[0] for r in runs) * 1000
    enc = statistics.median(r[1] for r in runs) * 1000
    size = statistics.mean(r[2] for r in runs)
    return f"{diff:7.2f} | {enc:7.2f} | {size:9,.0f}"


def main() -> None:
    lines = text(H // LINE + 1)
    base = editor(lines)
    typed = [[*lines[:20], lines[20] + "x" * k, *lines[21:]] for k in range(1, 4)]
    workloads = {
        "unchanged": [(base, base)],
        "typing": [(base, editor(t)) for t in typed],
        "scrolling": [(base, editor([*lines[1:], "new line"]))],
    }
    print("| workload | path | diff ms | encode ms | bytes/frame |")
    print("|---|---|---|---|---|")
    for name, pairs in workloads.items():
        for label, path in (
            ("numpy + simplejpeg (before)", numpy_path),
            ("bytes + Pillow (now)", bytes_path),
        ):
            print(f"| {name} | {label} | {measure(path, pairs)} |")


if __name__ == "__main__":
    main()
