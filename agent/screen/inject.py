"""The engineer's mouse and keyboard on X11, through the XTEST extension (python-xlib).

Keys that are not text (Return, arrows, Ctrl…) are pressed by keysym name. Text is typed as text: each
character's keysym (Latin-1 as is, anything else as the Unicode keysym 0x01000000 + code point) is
looked up in the keyboard map; a character the user's layout does not have — Chinese, or a letter of
another layout — is typed the way xdotool does it: a spare keycode is mapped to that keysym for the
press. So "你好" arrives as "你好" whatever the layout, with no input method involved. Borrowed keycodes
keep their character until one is needed for another (least recently used first, never sooner than
`BORROW_HOLD_S` after its last press) or the injector closes: a program reads the keymap when it handles
the key, so a keycode re-mapped too soon would type the next character instead (under load a program
can be seconds behind). A fresh mapping is given `MAP_SETTLE_S` before the first press through it: measured
on Xvfb with a Tk entry, a key pressed right after the (synced) re-mapping was dropped in 1 text of 12,
even on an idle machine; with 2 ms it never was in 60. So the characters of a text the layout lacks are
mapped together, the server and programs get that moment once, then the whole text is tapped.

Windows: `agent/screen/wininject.py` (SendInput through ctypes; what to send is the pure
`agent/screen/wininput.py`): virtual keys for non-text keys, `KEYEVENTF_UNICODE` per UTF-16 code unit
for text — layout independent, Chinese included.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from Xlib import XK, X, display
from Xlib.ext import xtest

from protocol.screen import InputEvent, Key, PointerButton, PointerMove, TypeText, Wheel

SHIFT = "Shift_L"
BORROW_HOLD_S = 2.0  # the least time a borrowed keycode keeps its character after its last press
MAP_SETTLE_S = 0.03  # between re-mapping keycodes and the first press through them (see the module's note)


def keysym_of(char: str) -> int:
    code = ord(char)
    if char == "\n":
        return XK.string_to_keysym("Return")
    if char == "\t":
        return XK.string_to_keysym("Tab")
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 | code


class XInjector:
    """One X connection for injection; `left, top` is the viewed monitor's place on the X screen."""

    def __init__(self, left: int = 0, top: int = 0, name: str | None = None) -> None:
        self.display = display.Display(name)
        if not self.display.has_extension("XTEST"):
            raise OSError("the X server has no XTEST extension")
        self.left, self.top = left, top
        self.lock = threading.Lock()
        self.last_injected = 0.0  # monotonic time of our last event (the watcher tells ours from the user's)
        self.last_pointer: tuple[int, int] | None = None
        self.pressed: set[int] = set()  # keycodes we hold down
        self._spares = self._find_spares()
        # keysym → (spare keycode, time of its last press), least recently used first
        self._borrowed: OrderedDict[int, tuple[int, float]] = OrderedDict()

    def _find_spares(self, most: int = 16) -> list[int]:
        """Keycodes with no keysym at all: borrowed to type characters the layout lacks."""
        first = self.display.display.info.min_keycode
        count = self.display.display.info.max_keycode - first + 1
        mapping = self.display.get_keyboard_mapping(first, count)
        spares = [first + o for o in range(count - 1, -1, -1) if not any(mapping[o])]
        return spares[:most]

    def close(self) -> None:
        with self.lock:
            for code in list(self.pressed):
                xtest.fake_input(self.display, X.KeyRelease, code)
            self.pressed.clear()
            self.display.sync()
            self._give_back()
            self.display.close()

    def apply(self, events: list[InputEvent]) -> None:
        with self.lock:
            for event in events:
                self._one(event)
            self.display.sync()
            self.last_injected = time.monotonic()

    def _move(self, x: int, y: int) -> None:
        ax, ay = self.left + x, self.top + y
        xtest.fake_input(self.display, X.MotionNotify, x=ax, y=ay)
        self.last_pointer = (ax, ay)

    def _one(self, event: InputEvent) -> None:
        d = self.display
        if isinstance(event, PointerMove):
            self._move(event.x, event.y)
        elif isinstance(event, PointerButton):
            self._move(event.x, event.y)
            xtest.fake_input(d, X.ButtonPress if event.down else X.ButtonRelease, event.button)
        elif isinstance(event, Wheel):
            self._move(event.x, event.y)
            button = 4 if event.dy < 0 else 5
            for _ in range(abs(event.dy)):
                xtest.fake_input(d, X.ButtonPress, button)
                xtest.fake_input(d, X.ButtonRelease, button)
        elif isinstance(event, Key):
            keysym = XK.string_to_keysym(event.key)
            if keysym == 0:
                raise ValueError(f"unknown key {event.key!r}")
            code = d.keysym_to_keycode(keysym)
            if code == 0:
                return
            xtest.fake_input(d, X.KeyPress if event.down else X.KeyRelease, code)
            (self.pressed.add if event.down else self.pressed.discard)(code)
        elif isinstance(event, TypeText):
            self._type(event.text)

    def _type(self, text: str) -> None:
        """Characters the layout has are tapped (with Shift when needed); the others through borrowed
        spare keycodes, each mapped to one character's keysym (see the module's note)."""
        d = self.display
        taps: list[tuple[int, bool, int | None]] = []  # keycode, with Shift, the borrowed keysym
        fresh = False  # a keycode was re-mapped since the last flush
        for char in text:
            keysym = keysym_of(char)
            code = d.keysym_to_keycode(keysym)
            if code and keysym not in self._borrowed:
                shifted = d.keycode_to_keysym(code, 0) != keysym and d.keycode_to_keysym(code, 1) == keysym
                taps.append((code, shifted, None))
                continue
            if keysym not in self._borrowed and len(self._borrowed) >= len(self._spares):
                self._flush(taps, fresh)  # what is mapped is typed before a keycode is taken back
                taps, fresh = [], False
            if keysym not in self._borrowed:
                fresh = True
            try:
                spare = self._borrow(keysym)
            except ValueError:
                self._flush(taps, fresh)  # what could be typed is, before the refusal
                raise
            taps.append((spare, False, keysym))
        self._flush(taps, fresh)

    def _flush(self, taps: list[tuple[int, bool, int | None]], fresh: bool) -> None:
        if fresh:
            self.display.sync()
            time.sleep(MAP_SETTLE_S)
        for code, shifted, keysym in taps:
            self._tap(code, shifted)
            if keysym is not None:
                self._borrowed[keysym] = (code, time.monotonic())
                self._borrowed.move_to_end(keysym)

    def _borrow(self, keysym: int) -> int:
        """The spare keycode carrying `keysym`: already mapped, a free one, or the least recently used one
        once its last press is `BORROW_HOLD_S` old (waiting for that if need be). A new mapping is
        recorded here (pressed "now" until its tap) and sent; `_flush` syncs it and lets it settle."""
        if keysym in self._borrowed:
            return self._borrowed[keysym][0]
        if not self._spares:
            raise ValueError("no free keycode to type this character")
        if len(self._borrowed) < len(self._spares):
            spare = self._spares[len(self._borrowed)]
        else:
            oldest, (spare, pressed_at) = next(iter(self._borrowed.items()))
            self.display.sync()
            time.sleep(max(0.0, pressed_at + BORROW_HOLD_S - time.monotonic()))
            del self._borrowed[oldest]
        self.display.change_keyboard_mapping(spare, [(keysym, keysym)])
        self._borrowed[keysym] = (spare, time.monotonic())
        return spare

    def _give_back(self) -> None:
        """Every borrowed keycode back to no keysym (at close: the user's keyboard map as it was)."""
        if not self._borrowed:
            return
        for spare, _ in self._borrowed.values():
            self.display.change_keyboard_mapping(spare, [(0, 0)])
        self.display.sync()
        self._borrowed.clear()

    def _tap(self, code: int, shifted: bool) -> None:
        d = self.display
        shift = d.keysym_to_keycode(XK.string_to_keysym(SHIFT)) if shifted else 0
        if shift:
            xtest.fake_input(d, X.KeyPress, shift)
        xtest.fake_input(d, X.KeyPress, code)
        xtest.fake_input(d, X.KeyRelease, code)
        if shift:
            xtest.fake_input(d, X.KeyRelease, shift)
