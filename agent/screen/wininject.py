"""The engineer's mouse and keyboard on Windows: `SendInput` through ctypes, and the user's own input
through `GetLastInputInfo`. A thin wrapper: what to send is decided by `agent/screen/wininput.py`
(pure, tested on every OS); here it is packed into `INPUT` structures (laid out as in WinUser.h — the
layout is checked on every OS too) and handed to Windows. The calls into user32/kernel32 sit behind
`sys.platform == "win32"`, so elsewhere (and for mypy on Linux) they do not exist.

Limits (Windows' own): input into elevated windows needs the agent's UI access (UIPI — `SendInput`
then sends fewer events than asked, which is reported as an error); the secure desktop (UAC prompts,
Ctrl+Alt+Del) cannot be driven.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable, Sequence

from agent.screen.wininput import (
    KEYEVENTF_KEYUP,
    Desktop,
    KeyInput,
    MouseInput,
    WinInput,
    to_inputs,
    user_input,
)
from protocol.screen import InputEvent

ULONG_PTR = ctypes.c_size_t  # pointer-sized, as on Windows (8 bytes on x64, 4 on x86)


class MOUSEINPUT(ctypes.Structure):
    _fields_ = [
        ("dx", ctypes.c_int32),
        ("dy", ctypes.c_int32),
        ("mouseData", ctypes.c_uint32),
        ("dwFlags", ctypes.c_uint32),
        ("time", ctypes.c_uint32),
        ("dwExtraInfo", ULONG_PTR),
    ]


class KEYBDINPUT(ctypes.Structure):
    _fields_ = [
        ("wVk", ctypes.c_uint16),
        ("wScan", ctypes.c_uint16),
        ("dwFlags", ctypes.c_uint32),
        ("time", ctypes.c_uint32),
        ("dwExtraInfo", ULONG_PTR),
    ]


class HARDWAREINPUT(ctypes.Structure):
    _fields_ = [
        ("uMsg", ctypes.c_uint32),
        ("wParamL", ctypes.c_uint16),
        ("wParamH", ctypes.c_uint16),
    ]


class _INPUTUNION(ctypes.Union):
    _fields_ = [("mi", MOUSEINPUT), ("ki", KEYBDINPUT), ("hi", HARDWAREINPUT)]


class INPUT(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("u", _INPUTUNION)]


def to_struct(item: WinInput) -> INPUT:
    record = INPUT(type=item.type)
    if isinstance(item, MouseInput):
        record.u.mi = MOUSEINPUT(item.dx, item.dy, item.mouse_data & 0xFFFFFFFF, item.flags, 0, 0)
    else:
        record.u.ki = KEYBDINPUT(item.vk, item.scan, item.flags, 0, 0)
    return record


def to_array(items: Sequence[WinInput]) -> ctypes.Array[INPUT]:
    return (INPUT * len(items))(*(to_struct(i) for i in items))


Send = Callable[["ctypes.Array[INPUT]"], int]  # → how many inputs Windows took

if sys.platform == "win32":
    _user32 = ctypes.windll.user32
    _kernel32 = ctypes.windll.kernel32

    class LASTINPUTINFO(ctypes.Structure):
        _fields_ = [("cbSize", ctypes.c_uint32), ("dwTime", ctypes.c_uint32)]

    def send_input(array: ctypes.Array[INPUT]) -> int:
        return int(_user32.SendInput(len(array), array, ctypes.sizeof(INPUT)))

    def tick_ms() -> int:
        return int(_kernel32.GetTickCount()) & 0xFFFFFFFF

    def last_input_ms() -> int:
        info = LASTINPUTINFO(ctypes.sizeof(LASTINPUTINFO), 0)
        if not _user32.GetLastInputInfo(ctypes.byref(info)):
            raise OSError("GetLastInputInfo failed")
        return int(info.dwTime)

    def virtual_desktop(monitor_left: int, monitor_top: int) -> Desktop:
        metric = _user32.GetSystemMetrics  # SM_XVIRTUALSCREEN 76, SM_YVIRTUALSCREEN 77, SM_CX… 78, SM_CY… 79
        return Desktop(metric(76), metric(77), metric(78), metric(79), monitor_left, monitor_top)

else:

    def send_input(array: ctypes.Array[INPUT]) -> int:
        raise OSError("SendInput exists on Windows only")

    def tick_ms() -> int:
        return int(time.monotonic() * 1000) & 0xFFFFFFFF

    def last_input_ms() -> int:
        raise OSError("GetLastInputInfo exists on Windows only")

    def virtual_desktop(monitor_left: int, monitor_top: int) -> Desktop:
        raise OSError("the virtual desktop is a Windows notion")


class WinInjector:
    """The same face as `XInjector`: `apply(events)`, `close()`, `last_injected`, `pressed`.
    `left, top`: the viewed monitor's place on the virtual desktop (mss gives it)."""

    def __init__(
        self, left: int = 0, top: int = 0, desk: Desktop | None = None, send: Send | None = None
    ) -> None:
        self.desk = desk or virtual_desktop(left, top)
        self.send = send or send_input
        self.lock = threading.Lock()
        self.last_injected = 0.0  # monotonic
        self.last_injected_tick: int | None = None  # GetTickCount of our last SendInput
        self.last_pointer: tuple[int, int] | None = None
        self.pressed: set[int] = set()  # virtual keys we hold down

    def _send(self, items: Sequence[WinInput]) -> None:
        if not items:
            return
        taken = self.send(to_array(items))
        self.last_injected_tick = tick_ms()
        self.last_injected = time.monotonic()
        if taken != len(items):
            raise OSError(f"Windows took {taken} of {len(items)} inputs (a window of higher integrity?)")

    def apply(self, events: list[InputEvent]) -> None:
        items = [item for event in events for item in to_inputs(event, self.desk)]  # ValueError first
        with self.lock:
            for item in items:
                if isinstance(item, KeyInput) and item.vk:
                    (self.pressed.discard if item.flags & KEYEVENTF_KEYUP else self.pressed.add)(item.vk)
            self._send(items)

    def close(self) -> None:
        with self.lock:
            release = [KeyInput(vk, 0, KEYEVENTF_KEYUP) for vk in sorted(self.pressed)]
            self.pressed.clear()
            self._send(release)


PAUSE_S = 1.0
POLL_S = 0.05


class WinUserWatch:
    """The user's own hands on Windows: the same face as `agent.screen.watch.UserWatch`."""

    def __init__(self, injector: WinInjector, last_input: Callable[[], int] | None = None) -> None:
        self.injector = injector
        self.last_input = last_input or last_input_ms
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
        previous = self.last_input()
        while not self.stopped.wait(POLL_S):
            now = self.last_input()
            if user_input(previous, now, self.injector.last_injected_tick):
                self.paused_until = time.monotonic() + PAUSE_S
            previous = now
