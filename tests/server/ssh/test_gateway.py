"""The gateway's line reader: lines of any ending, a line over the limit skipped whole and reported once,
whatever sizes the client's bytes arrive in."""

from __future__ import annotations

from typing import Any, cast

from server.ssh.gateway import _TOO_LONG, _LineReader
from server.ssh.prompt import MAX_LINE


class Chunks:
    def __init__(self, *chunks: str) -> None:
        self.chunks = list(chunks)

    async def read(self, size: int) -> str:
        return self.chunks.pop(0) if self.chunks else ""


async def lines_of(*chunks: str) -> list[str | None]:
    reader = _LineReader(cast(Any, Chunks(*chunks)))
    out: list[str | None] = []
    while True:
        line = await reader.next()
        out.append(line)
        if line is None:
            return out


async def test_endings_and_split_chunks() -> None:
    assert await lines_of("que", "ue\r\nacc", "ept 1\rchat hi\n\n") == [
        "queue",
        "accept 1",
        "chat hi",
        "",
        None,
    ]


async def test_a_huge_line_is_skipped_whole() -> None:
    huge = "x" * (MAX_LINE * 3)
    got = await lines_of("queue\n", huge[: MAX_LINE * 2], huge[MAX_LINE * 2 :] + "\nwhoami\n")
    assert got == ["queue", _TOO_LONG, "whoami", None]
