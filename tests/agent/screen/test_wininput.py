"""Windows input, tested on every OS: what `SendInput` is given for each event (the pure part), the
`INPUT` structures as WinUser.h lays them out, the injector's bookkeeping around the one call into
Windows (here a recorder takes the place of user32 — the call itself runs only on Windows), and the
user-activity rule over `GetLastInputInfo` ticks."""

from __future__ import annotations

import ctypes
import time

import pytest

from agent.screen.wininject import INPUT, KEYBDINPUT, MOUSEINPUT, WinInjector, WinUserWatch, to_array
from agent.screen.wininput import (
    KEYEVENTF_EXTENDEDKEY,
    KEYEVENTF_KEYUP,
    KEYEVENTF_UNICODE,
    MOUSEEVENTF_LEFTDOWN,
    MOUSEEVENTF_RIGHTUP,
    MOUSEEVENTF_WHEEL,
    MOVE_FLAGS,
    Desktop,
    KeyInput,
    MouseInput,
    absolute,
    to_inputs,
    user_input,
    utf16_units,
    vk_of,
)
from protocol.screen import Key, PointerButton, PointerMove, TypeText, Wheel

# Two 1920×1080 monitors: the primary at (0, 0), a second one to its left at (-1920, 0).
LEFT = Desktop(-1920, 0, 3840, 1080, monitor_left=-1920, monitor_top=0)
PRIMARY = Desktop(-1920, 0, 3840, 1080, monitor_left=0, monitor_top=0)
ONE = Desktop(0, 0, 1920, 1080)


def test_coordinates_scale_to_the_virtual_desktop() -> None:
    assert absolute(0, 0, LEFT) == (0, 0)  # the virtual desktop's first pixel
    assert absolute(1919, 1079, PRIMARY) == (65535, 65535)  # its last
    assert absolute(0, 0, PRIMARY) == (round(1920 * 65535 / 3839), 0)  # the primary starts half-way
    assert absolute(959, 539, ONE) == (round(959 * 65535 / 1919), round(539 * 65535 / 1079))
    assert absolute(5000, 5000, ONE) == (65535, 65535)  # past the edge: clamped


def test_utf16_units_split_characters_outside_the_bmp_into_surrogate_pairs() -> None:
    assert utf16_units("A") == [0x41]
    assert utf16_units("你好") == [0x4F60, 0x597D]
    assert utf16_units("😀") == [0xD83D, 0xDE00]
    assert utf16_units("a😀b") == [0x61, 0xD83D, 0xDE00, 0x62]


def test_text_is_sent_as_unicode_key_presses_per_code_unit() -> None:
    out = to_inputs(TypeText(text="好😀\n"), ONE)
    u, up = KEYEVENTF_UNICODE, KEYEVENTF_UNICODE | KEYEVENTF_KEYUP
    assert out == [
        KeyInput(0, 0x597D, u),
        KeyInput(0, 0x597D, up),
        KeyInput(0, 0xD83D, u),
        KeyInput(0, 0xD83D, up),
        KeyInput(0, 0xDE00, u),
        KeyInput(0, 0xDE00, up),
        KeyInput(0x0D, 0, 0),  # a line break is the Return key
        KeyInput(0x0D, 0, KEYEVENTF_KEYUP),
    ]


def test_pointer_buttons_and_wheel_move_first_then_act() -> None:
    x, y = absolute(100, 200, PRIMARY)
    assert to_inputs(PointerMove(x=100, y=200), PRIMARY) == [MouseInput(x, y, 0, MOVE_FLAGS)]
    assert to_inputs(PointerButton(x=100, y=200, button=1, down=True), PRIMARY) == [
        MouseInput(x, y, 0, MOVE_FLAGS),
        MouseInput(0, 0, 0, MOUSEEVENTF_LEFTDOWN),
    ]
    assert (
        to_inputs(PointerButton(x=100, y=200, button=3, down=False), PRIMARY)[1].flags == MOUSEEVENTF_RIGHTUP
    )
    up, down = to_inputs(Wheel(x=1, y=1, dy=-2), ONE)[1], to_inputs(Wheel(x=1, y=1, dy=3), ONE)[1]
    assert up == MouseInput(0, 0, 240, MOUSEEVENTF_WHEEL)  # negative dy is up: positive wheel data
    assert down == MouseInput(0, 0, -360, MOUSEEVENTF_WHEEL)


def test_keys_by_virtual_key_with_the_extended_flag_where_windows_wants_it() -> None:
    assert vk_of("a") == (0x41, False) and vk_of("Z") == (0x5A, False) and vk_of("7") == (0x37, False)
    assert vk_of("F5") == (0x74, False) and vk_of("F12") == (0x7B, False)
    assert vk_of("Left") == (0x25, True) and vk_of("Delete") == (0x2E, True)
    assert vk_of("Control_R") == (0xA3, True) and vk_of("Control_L") == (0xA2, False)
    assert to_inputs(Key(key="Down", down=True), ONE) == [KeyInput(0x28, 0, KEYEVENTF_EXTENDEDKEY)]
    assert to_inputs(Key(key="Return", down=False), ONE) == [KeyInput(0x0D, 0, KEYEVENTF_KEYUP)]
    with pytest.raises(ValueError, match="unknown key"):
        vk_of("NoSuchKey")


def test_input_structures_have_the_windows_layout() -> None:
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert ctypes.sizeof(INPUT) == 40  # sizeof(INPUT) on x64 Windows (cbSize SendInput checks)
        assert ctypes.sizeof(MOUSEINPUT) == 32 and ctypes.sizeof(KEYBDINPUT) == 24
        assert INPUT.u.offset == 8
    else:
        assert ctypes.sizeof(INPUT) == 28  # x86
    array = to_array([MouseInput(7, 9, -120, MOUSEEVENTF_WHEEL), KeyInput(0, 0xD83D, KEYEVENTF_UNICODE)])
    assert array[0].type == 0 and (array[0].u.mi.dx, array[0].u.mi.dy) == (7, 9)
    assert array[0].u.mi.mouseData == 0xFFFFFF88  # −120 as the DWORD Windows reads as signed
    assert array[0].u.mi.dwFlags == MOUSEEVENTF_WHEEL
    assert array[1].type == 1 and (array[1].u.ki.wVk, array[1].u.ki.wScan) == (0, 0xD83D)
    assert array[1].u.ki.dwFlags == KEYEVENTF_UNICODE


class Recorder:
    def __init__(self, take: int | None = None) -> None:
        self.calls: list[list[tuple[int, int, int, int]]] = []
        self.take = take

    def __call__(self, array: ctypes.Array[INPUT]) -> int:
        rows = []
        for item in array:
            if item.type == 0:
                rows.append((0, item.u.mi.dx, item.u.mi.mouseData, item.u.mi.dwFlags))
            else:
                rows.append((1, item.u.ki.wVk, item.u.ki.wScan, item.u.ki.dwFlags))
        self.calls.append(rows)
        return len(array) if self.take is None else self.take


def test_the_injector_sends_one_batch_per_apply_and_releases_held_keys_on_close() -> None:
    send = Recorder()
    injector = WinInjector(desk=ONE, send=send)
    injector.apply([Key(key="Control_L", down=True), Key(key="c", down=True), Key(key="c", down=False)])
    assert send.calls == [[(1, 0xA2, 0, 0), (1, 0x43, 0, 0), (1, 0x43, 0, KEYEVENTF_KEYUP)]]
    assert injector.pressed == {0xA2} and injector.last_injected_tick is not None
    injector.close()
    assert send.calls[-1] == [(1, 0xA2, 0, KEYEVENTF_KEYUP)] and not injector.pressed


def test_bad_input_sends_nothing_and_a_blocked_send_is_an_error() -> None:
    send = Recorder()
    injector = WinInjector(desk=ONE, send=send)
    with pytest.raises(ValueError, match="unknown key"):
        injector.apply([TypeText(text="x"), Key(key="NoSuchKey", down=True)])
    assert send.calls == []  # nothing half-sent
    blocked = WinInjector(desk=ONE, send=Recorder(take=0))  # UIPI: Windows took none
    with pytest.raises(OSError, match="took 0 of 2"):
        blocked.apply([TypeText(text="x")])


def test_user_input_is_a_new_input_tick_away_from_our_own() -> None:
    assert not user_input(1000, 1000, None)  # nothing new
    assert user_input(1000, 1200, None)  # new, and we injected nothing
    assert not user_input(1000, 1205, 1200)  # new, but it is our SendInput
    assert user_input(1000, 1600, 1200)  # new, long after ours: the user
    assert not user_input(0xFFFFFF00, 0x10, 0xFFFFFFF0)  # across the 49.7-day wrap: still ours
    assert user_input(0xFFFFFF00, 0x1000, 0xFFFFFFF0)  # across the wrap, 4 s after ours


def test_the_watch_pauses_control_on_the_users_input() -> None:
    ticks = iter([5000, 5000, 5000, 9000, 9000, *[9000] * 200])
    injector = WinInjector(desk=ONE, send=Recorder())
    watch = WinUserWatch(injector, last_input=lambda: next(ticks))
    watch.start()
    try:
        deadline = time.monotonic() + 3
        while not watch.paused() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watch.paused()
    finally:
        watch.stop()
        watch.thread.join(2)
