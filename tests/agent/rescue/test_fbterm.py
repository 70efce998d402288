"""The rescue screen moves onto fbterm's pseudo-terminal while fbterm runs and back to the console when it
ends (`agent/rescue/fbterm.py`), on real pseudo-terminals: the "console" and "fbterm" are two pty pairs,
their master ends are the screens the test reads and the keyboards it types on."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from agent.rescue.fbterm import follow_fbterm, named_terminal
from agent.rescue.screen import Terminals

EVERY = 0.05


@contextlib.contextmanager
def pty() -> Iterator[tuple[int, Path]]:
    """(master fd, slave path); the slave is opened by whoever draws on it."""
    master, slave = os.openpty()
    path = Path(os.ttyname(slave))
    os.close(slave)
    os.set_blocking(master, False)
    try:
        yield master, path
    finally:
        with contextlib.suppress(OSError):
            os.close(master)


def drain(master: int) -> bytes:
    out = b""
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(master, 65536):
            out += chunk
    return out


async def until(check: object, within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_only_a_pseudo_terminal_is_taken_from_the_note(tmp_path: Path) -> None:
    note = tmp_path / "fbterm.tty"
    assert named_terminal(note) is None
    for text in ("/dev/tty1", "/etc/passwd", "/dev/pts/../tty1", "not a path", ""):
        note.write_text(text + "\n")
        assert named_terminal(note) is None, text
    note.write_text("/dev/pts/3\n")
    assert named_terminal(note) == Path("/dev/pts/3")


async def test_screen_and_keys_follow_fbterm_and_come_back(tmp_path: Path) -> None:
    note = tmp_path / "fbterm.tty"
    with pty() as (console, console_path):
        terms = Terminals([console_path])
        terms.start()
        following = asyncio.create_task(follow_fbterm(terms, note, console_path, EVERY))
        try:
            terms.draw(["RME 远程救援 / RME Rescue", "RME-STATE: starting"])
            await until(lambda: b"RME-STATE: starting" in drain(console))

            with pty() as (fb, fb_path):
                note.write_text(f"{fb_path}\n")  # fbterm's child: `tty > NOTE`
                seen = b""

                def on_fbterm() -> bool:
                    nonlocal seen
                    seen += drain(fb)
                    return "远程救援".encode() in seen

                await until(on_fbterm)  # the current screen, drawn at once on fbterm
                assert list(terms.paths.values()) == [fb_path]
                terms.draw(["RME-STATE: online"])
                await until(lambda: b"RME-STATE: online" in drain(fb))
                assert b"online" not in drain(console)  # the console is no longer drawn on
                os.write(console, b"x")  # ... nor read: the key is fbterm's to pass on, not ours
                os.write(fb, b"y")
                assert await asyncio.wait_for(terms.keys.get(), 3) == "y"
                assert terms.keys.empty()
            # fbterm ended: its pseudo-terminal's other end closed
            await until(lambda: list(terms.paths.values()) == [console_path])
            assert not note.exists()  # stale, removed: a restarted fbterm writes it afresh
            terms.draw(["RME-STATE: back"])
            await until(lambda: b"RME-STATE: back" in drain(console))
            os.write(console, b"k")
            got = await asyncio.wait_for(terms.keys.get(), 3)
            assert got in "xk"  # the "x" typed while fbterm had the screen may still be queued by the tty
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            terms.close()


async def test_a_note_naming_a_terminal_that_does_not_open_changes_nothing(tmp_path: Path) -> None:
    note = tmp_path / "fbterm.tty"
    note.write_text("/dev/pts/99999\n")
    with pty() as (console, console_path):
        terms = Terminals([console_path])
        terms.start()
        following = asyncio.create_task(follow_fbterm(terms, note, console_path, EVERY))
        try:
            await asyncio.sleep(4 * EVERY)
            assert list(terms.paths.values()) == [console_path]
            terms.draw(["RME-STATE: online"])
            await until(lambda: b"RME-STATE: online" in drain(console))
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            terms.close()
