"""JPEG tiles and the link-adaptive quality and frame rate.

Why JPEG tiles and not video: see docs/screen.md (measured). In short: a screen changes in small
regions (a caret, a line of text, a menu); a changed tile costs a few hundred bytes at once, decodes in
any browser with no codec negotiation (`createImageBitmap`), and a lost or skipped picture never
corrupts the next one — the newest picture always wins, which a video stream's inter-frame references
do not allow without a key frame.

The encoder is Pillow's (libjpeg-turbo in its wheels): no numpy, so it fits the single-file agent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from agent.screen.tiles import Picture, Rect
from protocol.screen import Tile


def crop(picture: Picture, r: Rect) -> bytes:
    """The BGRA bytes of one rectangle, rows packed (no copy beyond the rectangle's own rows)."""
    stride, data = picture.stride, picture.data
    if r.x == 0 and r.w == picture.width:
        return data[r.y * stride : (r.y + r.h) * stride]
    left, width = r.x * 4, r.w * 4
    return b"".join(data[row * stride + left : row * stride + left + width] for row in range(r.y, r.y + r.h))


def encode_jpeg(bgra: bytes, width: int, height: int, quality: int) -> bytes:
    """A baseline JPEG (4:2:0) of a BGRA block."""
    image = Image.frombytes("RGB", (width, height), bgra, "raw", "BGRX")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, subsampling=2)
    return out.getvalue()


def encode_tiles(picture: Picture, rects: list[Rect], quality: int) -> tuple[Tile, ...]:
    """Each rectangle of a BGRA picture as its own JPEG."""
    return tuple(Tile(r.x, r.y, r.w, r.h, encode_jpeg(crop(picture, r), r.w, r.h, quality)) for r in rects)


@dataclass
class Pace:
    """Quality and frame rate adapted to the link: a frame that takes long to leave (the socket's buffer
    is full) lowers the quality first, then the rate; frames that leave quickly raise them again.
    Also the CPU cap: capture and encoding may use at most `cpu_share` of one core (the pause between
    pictures is stretched so that work / (work + pause) ≤ cpu_share)."""

    quality: int = 70
    fps: float = 24.0
    min_quality: int = 30
    max_quality: int = 65
    min_fps: float = 2.0
    max_fps: float = 24.0
    cpu_share: float = 0.5

    def sent(self, send_s: float, interval_s: float) -> None:
        """A frame took `send_s` to be written; pictures are taken every `interval_s`."""
        if send_s > interval_s:  # the link is the bottleneck
            if self.quality > self.min_quality:
                self.quality = max(self.min_quality, self.quality - 10)
            else:
                self.fps = max(self.min_fps, self.fps * 0.7)
        elif send_s < interval_s / 4:
            if self.fps < self.max_fps:
                self.fps = min(self.max_fps, self.fps * 1.25 + 1)
            elif self.quality < self.max_quality:
                self.quality = min(self.max_quality, self.quality + 5)

    def pause(self, work_s: float) -> float:
        """Seconds to wait before the next picture after `work_s` of capture and encoding."""
        by_rate = 1.0 / self.fps - work_s
        by_cpu = work_s * (1.0 - self.cpu_share) / self.cpu_share
        return max(0.0, by_rate, by_cpu)
