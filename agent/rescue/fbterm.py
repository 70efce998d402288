"""The PC's own screen in Chinese: the Linux console has no CJK glyphs (Chinese shows as boxes on tty1),
so the rescue image runs fbterm on tty1 whenever a framebuffer appears (`rescue.image.FBTERM_UNIT`,
started by udev for `fb0`); fbterm draws with WenQuanYi Micro Hei and hands the keyboard to a
pseudo-terminal, whose name its child writes to `NOTE`. The rescue screen then draws on and reads keys
from that pseudo-terminal instead of tty1, and goes back to tty1 when fbterm ends (no framebuffer
driver, fbterm crashed): the English lines always read."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from agent.rescue.screen import Terminals

NOTE = Path("/run/rme-fbterm.tty")  # written by fbterm's child: `tty > NOTE`
CONSOLE = Path("/dev/tty1")
EVERY_S = 0.5


def named_terminal(note: Path) -> Path | None:
    """The pseudo-terminal fbterm's child named, if it did and it is one (`/dev/pts/N`)."""
    try:
        text = note.read_text().strip()
    except OSError:
        return None
    path = Path(text)
    if path.parent != Path("/dev/pts") or not path.name.isdigit():
        return None
    return path


def forget(note: Path) -> None:
    with contextlib.suppress(OSError):
        note.unlink()


async def follow_fbterm(
    terms: Terminals, note: Path = NOTE, console: Path = CONSOLE, every: float = EVERY_S
) -> None:
    """Keeps the screen on fbterm's pseudo-terminal while fbterm runs, on `console` otherwise."""
    current: Path | None = None
    while True:
        named = named_terminal(note)
        if current is not None and (current in terms.lost or named != current):
            if not terms.swap(current, console):  # fbterm ended (or restarted on another pseudo-terminal)
                terms.drop(current)
            if current in terms.lost and named == current:
                forget(note)  # stale: a restarted fbterm writes it afresh
                named = None
            current = None
        if current is None and named is not None and terms.swap(console, named):
            current = named
        await asyncio.sleep(every)
