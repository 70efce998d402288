"""The user's own hands: control pauses while the user moves their mouse or types.

X11: the watcher polls every 50 ms on its own connection — `QueryPointer` (where the pointer is) and
`QueryKeymap` (which keys are down). A pointer that is not where our last injected event put it, or a
key down that we did not press, while we injected nothing in the last 150 ms, is the user: control is
paused for `PAUSE_S` after the last sign of them. (XInput2 raw events or XRecord would tell device
events apart directly; polling needs no extension and costs ~40 round trips a second.)
Windows: `agent/screen/wininject.py` `WinUserWatch` (`GetLastInputInfo` ticks against our own last
`SendInput`, the same pause).
"""

from __future__ import annotations

import threading
import time

from Xlib import display

from agent.screen.inject import XInjector

PAUSE_S = 1.0
POLL_S = 0.05
OURS_S = 0.15


class UserWatch:
    def __init__(self, injector: XInjector, name: str | None = None) -> None:
        self.injector = injector
        self.display = display.Display(name)
        self.paused_until = 0.0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="user-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def paused(self) -> bool:
        return time.monotonic() < self.paused_until

    def _run(self) -> None:
        root = self.display.screen().root
        last = None
        try:
            while not self.stopped.wait(POLL_S):
                pointer = root.query_pointer()
                here = (pointer.root_x, pointer.root_y)
                keys = self.display.query_keymap()
                now = time.monotonic()
                ours = now - self.injector.last_injected < OURS_S
                moved = last is not None and here not in (last, self.injector.last_pointer)
                typing = any(keys) and not self.injector.pressed
                if not ours and (moved or typing):
                    self.paused_until = now + PAUSE_S
                last = here
        finally:
            self.display.close()
