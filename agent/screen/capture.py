"""Capturing one monitor: mss (X11 via XGetImage/XShm, Windows via BitBlt/GDI, macOS via
CoreGraphics), changed tiles only (bytes compares), JPEG (Pillow) — in a worker thread, so the event
loop never waits on pixels.

The newest picture wins: the thread puts each frame in a slot of size one (`Slot`); a frame not yet
taken when the next is ready is replaced, never queued, and the next one then covers the tiles of both
(the diff is against the last picture *sent*, not the last one captured). Before each grab the thread
asks `may_capture()` — the on-screen indicator is up and the view is allowed — and stops otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mss

from agent.screen.encoder import Pace, encode_tiles
from agent.screen.tiles import TILE, WHOLE_ABOVE, Picture, changed_mask, grid, rects
from protocol.screen import MAX_SCREEN_FRAME, ScreenFrame


def _grabber() -> Any:
    """mss ≥ 10 names the grabber `MSS` (`mss.mss` is deprecated there); older releases only `mss`."""
    factory = getattr(mss, "MSS", None) or mss.mss
    return factory()


@dataclass(frozen=True)
class Monitor:
    index: int
    left: int
    top: int
    width: int
    height: int


def monitors() -> list[Monitor]:
    """The physical monitors (mss lists the whole virtual screen first; it is skipped)."""
    with _grabber() as grabber:
        found = grabber.monitors[1:] or grabber.monitors[:1]
        return [Monitor(i, m["left"], m["top"], m["width"], m["height"]) for i, m in enumerate(found)]


class Slot:
    """One frame at most: `put` replaces what was not taken (the newest picture wins)."""

    def __init__(self) -> None:
        self._item: tuple[ScreenFrame, Picture, list[object]] | None = None
        self._cond = threading.Condition()
        self.replaced = 0

    def put(self, frame: ScreenFrame, picture: Picture, covered: list[object]) -> None:
        with self._cond:
            if self._item is not None:
                self.replaced += 1
            self._item = (frame, picture, covered)
            self._cond.notify_all()

    def take(self, timeout: float) -> tuple[ScreenFrame, Picture, list[object]] | None:
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


class Capturer:
    """The capture thread for one view. `frames()` is read by the sender (the executor)."""

    def __init__(
        self, action_id: str, monitor: Monitor, may_capture: Callable[[], bool], pace: Pace | None = None
    ) -> None:
        self.action_id = action_id
        self.monitor = monitor
        self.may_capture = may_capture
        self.pace = pace or Pace()
        self.slot = Slot()
        self.stopped = threading.Event()
        self.force_key = threading.Event()  # the engineer's console needs a whole picture
        self.sent_picture: Picture | None = None  # what the engineer has (diff base)
        self._lock = threading.Lock()
        self.seq = 0
        self.work_s = 0.0  # capture + encode time, summed (the CPU the view costs)
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"screen-{action_id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def delivered(self, picture: Picture) -> None:
        """The sender wrote a frame: the engineer's picture is now `picture` (the next diff's base)."""
        with self._lock:
            self.sent_picture = picture

    def _run(self) -> None:
        m = self.monitor
        area = {"left": m.left, "top": m.top, "width": m.width, "height": m.height}
        try:
            with _grabber() as grabber:
                while not self.stopped.is_set() and self.may_capture():
                    began = time.perf_counter()
                    shot = grabber.grab(area)
                    picture = Picture(shot.width, shot.height, shot.bgra)
                    with self._lock:
                        base = None if self.force_key.is_set() else self.sent_picture
                        self.force_key.clear()
                    rows, cols = grid(shot.width, shot.height, TILE)
                    mask = changed_mask(base, picture, TILE, enough=int(rows * cols * WHOLE_ABOVE) + 1)
                    if base is None or any(any(line) for line in mask):
                        changed = rects(mask, shot.width, shot.height, TILE)
                        tiles = encode_tiles(picture, changed, self.pace.quality)
                        if sum(len(t.jpeg) for t in tiles) > MAX_SCREEN_FRAME - 64 * 1024:
                            tiles = encode_tiles(picture, changed, 25)  # a busy full-screen change
                        frame = ScreenFrame(
                            self.action_id, self.seq, shot.width, shot.height, tiles, key=base is None
                        )
                        self.seq += 1
                        if self.may_capture() and not self.stopped.is_set():
                            self.slot.put(frame, picture, [])
                    work = time.perf_counter() - began
                    self.work_s += work
                    self.stopped.wait(self.pace.pause(work))
        except Exception as exc:  # mss/X errors: the view ends, the user and engineer are told
            self.error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self.stopped.set()
