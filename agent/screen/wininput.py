"""The engineer's input on Windows, the pure part: each input event as the `INPUT` records `SendInput`
takes (field values only — `agent/screen/wininject.py` packs them into ctypes structures and calls
Windows). Pure so that it is tested everywhere; only the call itself needs Windows.

- Pointer: `MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK`, the point in the viewed
  monitor moved to the virtual desktop (all monitors; it may start left of or above 0) and scaled to
  0..65535 across it (`absolute`). Buttons and the wheel are sent at the point (a move first).
- Wheel: `MOUSEEVENTF_WHEEL`, `WHEEL_DELTA` (120) per notch; positive is away from the user (up), so an
  event's `dy` (negative is up) is negated.
- Keys that are not text: the virtual-key code of the X keysym name the protocol carries (`vk_of`),
  `KEYEVENTF_EXTENDEDKEY` for the keys of the extended set (arrows, Home/End, Insert/Delete, Page Up/Down,
  right Ctrl/Alt, the Windows keys), `KEYEVENTF_KEYUP` on release.
- Text as text: `KEYEVENTF_UNICODE` with one UTF-16 code unit in `wScan` (`wVk` 0), down then up, per
  unit — a character outside the BMP (😀) is its surrogate pair, two units, each pressed and released in
  order: the layout and input method do not matter, Chinese included. A line break or a tab is the
  Return / Tab key (a program reads those as keys, not characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.screen import InputEvent, Key, PointerButton, PointerMove, TypeText, Wheel

INPUT_MOUSE, INPUT_KEYBOARD = 0, 1

MOUSEEVENTF_MOVE = 0x0001
MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP = 0x0002, 0x0004
MOUSEEVENTF_RIGHTDOWN, MOUSEEVENTF_RIGHTUP = 0x0008, 0x0010
MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP = 0x0020, 0x0040
MOUSEEVENTF_WHEEL = 0x0800
MOUSEEVENTF_VIRTUALDESK = 0x4000
MOUSEEVENTF_ABSOLUTE = 0x8000
WHEEL_DELTA = 120

KEYEVENTF_EXTENDEDKEY = 0x0001
KEYEVENTF_KEYUP = 0x0002
KEYEVENTF_UNICODE = 0x0004

MOVE_FLAGS = MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK

# protocol button (X numbering) → (down flag, up flag)
BUTTONS = {
    1: (MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP),
    2: (MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP),
    3: (MOUSEEVENTF_RIGHTDOWN, MOUSEEVENTF_RIGHTUP),
}

VK_RETURN, VK_TAB = 0x0D, 0x09

# X keysym name → virtual-key code (letters and digits are computed in `vk_of`).
VK = {
    "BackSpace": 0x08,
    "Tab": VK_TAB,
    "ISO_Left_Tab": VK_TAB,
    "Return": VK_RETURN,
    "KP_Enter": VK_RETURN,
    "Pause": 0x13,
    "Caps_Lock": 0x14,
    "Escape": 0x1B,
    "space": 0x20,
    "Prior": 0x21,
    "Page_Up": 0x21,
    "Next": 0x22,
    "Page_Down": 0x22,
    "End": 0x23,
    "Home": 0x24,
    "Left": 0x25,
    "Up": 0x26,
    "Right": 0x27,
    "Down": 0x28,
    "Print": 0x2C,
    "Insert": 0x2D,
    "Delete": 0x2E,
    "Super_L": 0x5B,
    "Super_R": 0x5C,
    "Menu": 0x5D,
    "Num_Lock": 0x90,
    "Scroll_Lock": 0x91,
    "Shift_L": 0xA0,
    "Shift_R": 0xA1,
    "Control_L": 0xA2,
    "Control_R": 0xA3,
    "Alt_L": 0xA4,
    "Alt_R": 0xA5,
    "Meta_L": 0xA4,
    "Meta_R": 0xA5,
    "semicolon": 0xBA,
    "equal": 0xBB,
    "plus": 0xBB,
    "comma": 0xBC,
    "minus": 0xBD,
    "period": 0xBE,
    "slash": 0xBF,
    "grave": 0xC0,
    "bracketleft": 0xDB,
    "backslash": 0xDC,
    "bracketright": 0xDD,
    "apostrophe": 0xDE,
    **{f"KP_{d}": 0x60 + d for d in range(10)},
    "KP_Multiply": 0x6A,
    "KP_Add": 0x6B,
    "KP_Subtract": 0x6D,
    "KP_Decimal": 0x6E,
    "KP_Divide": 0x6F,
    **{f"F{n}": 0x6F + n for n in range(1, 25)},
}

EXTENDED = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x2C, 0x2D, 0x2E, 0x5B, 0x5C, 0x5D}
EXTENDED_NAMES = {"Control_R", "Alt_R", "KP_Enter", "KP_Divide", "Num_Lock"}


@dataclass(frozen=True, slots=True)
class MouseInput:
    """`INPUT { type = INPUT_MOUSE, mi = MOUSEINPUT { dx, dy, mouseData, dwFlags } }`."""

    dx: int
    dy: int
    mouse_data: int
    flags: int
    type: int = INPUT_MOUSE


@dataclass(frozen=True, slots=True)
class KeyInput:
    """`INPUT { type = INPUT_KEYBOARD, ki = KEYBDINPUT { wVk, wScan, dwFlags } }`."""

    vk: int
    scan: int
    flags: int
    type: int = INPUT_KEYBOARD


WinInput = MouseInput | KeyInput


@dataclass(frozen=True, slots=True)
class Desktop:
    """The virtual desktop (`SM_XVIRTUALSCREEN`, `SM_YVIRTUALSCREEN`, `SM_CXVIRTUALSCREEN`,
    `SM_CYVIRTUALSCREEN`) and the viewed monitor's top-left corner on it."""

    left: int
    top: int
    width: int
    height: int
    monitor_left: int = 0
    monitor_top: int = 0


def _scale(offset: int, size: int) -> int:
    """A pixel offset on the virtual desktop to 0..65535: the first pixel 0, the last one 65535."""
    if size <= 1:
        return 0
    offset = min(max(offset, 0), size - 1)
    return (offset * 65535 + (size - 1) // 2) // (size - 1)


def absolute(x: int, y: int, desk: Desktop) -> tuple[int, int]:
    """(x, y) in the viewed monitor → normalised absolute coordinates on the virtual desktop."""
    return (
        _scale(desk.monitor_left + x - desk.left, desk.width),
        _scale(desk.monitor_top + y - desk.top, desk.height),
    )


def utf16_units(text: str) -> list[int]:
    """The UTF-16 code units of `text`: one per BMP character, a surrogate pair for the others."""
    raw = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]


def vk_of(name: str) -> tuple[int, bool]:
    """The virtual-key code of an X keysym name, and whether it is an extended key; ValueError if none."""
    if len(name) == 1 and name.isascii() and name.isalnum():
        return ord(name.upper()), False  # VK_A..VK_Z are 'A'..'Z', VK_0..VK_9 are '0'..'9'
    vk = VK.get(name)
    if vk is None:
        raise ValueError(f"unknown key {name!r}")
    return vk, vk in EXTENDED or name in EXTENDED_NAMES


def _tap(vk: int) -> list[WinInput]:
    return [KeyInput(vk, 0, 0), KeyInput(vk, 0, KEYEVENTF_KEYUP)]


def text_inputs(text: str) -> list[WinInput]:
    out: list[WinInput] = []
    for char in text.replace("\r\n", "\n"):
        if char in "\n\r":
            out += _tap(VK_RETURN)
        elif char == "\t":
            out += _tap(VK_TAB)
        else:
            for unit in utf16_units(char):
                out += [
                    KeyInput(0, unit, KEYEVENTF_UNICODE),
                    KeyInput(0, unit, KEYEVENTF_UNICODE | KEYEVENTF_KEYUP),
                ]
    return out


def to_inputs(event: InputEvent, desk: Desktop) -> list[WinInput]:
    """One protocol input event as the INPUT records to send, in order."""
    if isinstance(event, PointerMove | PointerButton | Wheel):
        dx, dy = absolute(event.x, event.y, desk)
        out: list[WinInput] = [MouseInput(dx, dy, 0, MOVE_FLAGS)]
        if isinstance(event, PointerButton):
            down, up = BUTTONS[event.button]
            out.append(MouseInput(0, 0, 0, down if event.down else up))
        elif isinstance(event, Wheel) and event.dy:
            out.append(MouseInput(0, 0, -event.dy * WHEEL_DELTA, MOUSEEVENTF_WHEEL))
        return out
    if isinstance(event, Key):
        vk, extended = vk_of(event.key)
        flags = (KEYEVENTF_EXTENDEDKEY if extended else 0) | (0 if event.down else KEYEVENTF_KEYUP)
        return [KeyInput(vk, 0, flags)]
    if isinstance(event, TypeText):
        return text_inputs(event.text)
    raise ValueError(f"unknown input event {event!r}")


OURS_MS = 150  # input this close to our own last SendInput is taken to be ours


def tick_diff(a_ms: int, b_ms: int) -> int:
    """a − b for `GetTickCount` milliseconds, which wrap every 49.7 days (signed, modulo 2**32)."""
    return (a_ms - b_ms + (1 << 31)) % (1 << 32) - (1 << 31)


def user_input(
    previous_ms: int, last_input_ms: int, last_injected_ms: int | None, ours_ms: int = OURS_MS
) -> bool:
    """Whether the user used their own mouse or keyboard since the last poll. `GetLastInputInfo` gives
    the tick of the last input from any source, ours included: a new tick within `ours_ms` of our own
    last `SendInput` is ours, any other new tick is the user's. (A low-level hook would see the
    `LLMHF_INJECTED` flag per event; polling needs no hook thread with a message loop.)"""
    if last_input_ms == previous_ms:
        return False
    return last_injected_ms is None or abs(tick_diff(last_input_ms, last_injected_ms)) > ours_ms
