"""`server.shedding`: refusals become one summary line per window, and uvicorn's own lines for a 503 the
endpoint chose are filtered out (only in the request that set the mark)."""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from server.shedding import SHEDDING, ShedLog, UvicornShedFilter


async def test_a_burst_of_refusals_is_one_line_with_the_counts(caplog: pytest.LogCaptureFixture) -> None:
    shed = ShedLog(window=0.2)
    seen: list[str] = []
    shed.on_note = seen.append
    with caplog.at_level(logging.WARNING, logger="rme.server"):
        for _ in range(500):
            shed.note("tls")
        for _ in range(7):
            shed.note("shed")
        assert not caplog.records  # nothing yet: the window is open
        await asyncio.sleep(0.35)
    lines = [r for r in caplog.records if r.name == "rme.server"]
    assert len(lines) == 1
    assert "507 agent connection(s) refused" in lines[0].getMessage()
    assert lines[0].refused == {"tls": 500, "shed": 7}  # type: ignore[attr-defined]
    assert len(seen) == 507 and shed.counts == {}


def test_uvicorns_lines_are_dropped_only_for_a_chosen_denial() -> None:
    record = logging.makeLogRecord(
        {"name": "uvicorn.error", "msg": "ASGI callable returned without completing handshake."}
    )
    keep = UvicornShedFilter()
    assert keep.filter(record)  # an app that really failed its handshake is still logged

    def denial() -> bool:
        SHEDDING.set(True)
        return keep.filter(record)

    assert not contextvars.copy_context().run(denial)
    assert keep.filter(record)  # the mark stayed in that request's context
