"""Control pauses by itself while the user uses their own mouse or keyboard (`agent/screen/watch.py`),
on a real X server: the "user" is a second X client moving the pointer and pressing a key."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agent.screen.inject import XInjector
from agent.screen.watch import PAUSE_S, UserWatch
from protocol.screen import Key, PointerMove
from tests.screen.xdisplay import xvfb


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb(640, 480) as name:
        yield name


def wait(check: object, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_the_users_own_mouse_and_keys_pause_the_engineers_control(display: str) -> None:
    engineer = XInjector(name=display)
    user = XInjector(name=display)  # another client: what the engineer's injector did not do
    watch = UserWatch(engineer, name=display)
    watch.start()
    try:
        engineer.apply([PointerMove(x=10, y=10)])
        time.sleep(0.3)
        assert not watch.paused()  # the engineer's own moves never pause it
        time.sleep(0.2)
        user.apply([PointerMove(x=300, y=200)])
        assert wait(watch.paused), "the user's mouse did not pause control"
        assert wait(lambda: not watch.paused(), PAUSE_S + 1.5)  # resumes a second after the user stops
        time.sleep(0.2)
        user.apply([Key(key="a", down=True)])
        try:
            assert wait(watch.paused), "the user's key did not pause control"
        finally:
            user.apply([Key(key="a", down=False)])
    finally:
        watch.stop()
        engineer.close()
        user.close()
