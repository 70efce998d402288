"""The satisfaction rating end to end: a real session ends, the user rates it in the real panel API, and
the real server stores it on the ticket (the supervisor's satisfaction figure) and audits it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from protocol.messages import SessionEnd
from server.db.engine import open_engine
from server.db.tables import tickets
from server.kpi.figures import TicketFacts, compute
from server.kpi.store import load_facts
from tests.e2e.harness import RealServer, engineer, real_agent
from tests.e2e.test_session import open_session


async def _facts_for(server: RealServer, session: str) -> TicketFacts | None:
    """The KPI store's facts for the ticket of `session`, read from the real server's database."""
    engine = open_engine(f"sqlite+aiosqlite:///{(server.data / 'rme.db').resolve()}")
    try:
        async with engine.connect() as conn:
            ticket_id = await conn.scalar(sa.select(tickets.c.id).where(tickets.c.session_id == session))
        facts = await load_facts(engine, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    finally:
        await engine.dispose()
    return next((t for t in facts if t.id == ticket_id), None)


async def test_the_user_rates_the_ended_session(tmp_path: Path, server: RealServer) -> None:
    with real_agent(tmp_path, server) as agent:
        async with engineer(server) as eng:
            session = await open_session(eng, agent, "rate me afterwards")
            # During the session there is nothing to rate.
            early = await asyncio.to_thread(agent.post, "/api/feedback", {"rating": 5})
            assert early.status_code == 409 and early.json()["error"] == "no_session"
            out = await asyncio.to_thread(agent.cli, "end")
            assert "Session ended" in out
            await eng.expect(SessionEnd, session=session)
            rating = agent.state()["guard"]["rating"]
            assert rating is not None and rating["session"] == session  # the panel asks "How did it go?"

            sent = await asyncio.to_thread(
                agent.post, "/api/feedback", {"rating": 5, "comment": "quick and polite"}
            )
            assert sent.status_code == 200 and sent.json() == {"sent": True, "rating": 5}
            assert agent.state()["guard"]["rating"] is None
            again = await asyncio.to_thread(agent.post, "/api/feedback", {"rating": 1})
            assert again.status_code == 409 and again.json()["error"] == "already_rated"

            ticket: TicketFacts | None = None
            for _ in range(100):
                ticket = await _facts_for(server, session)
                if ticket is not None and ticket.satisfaction is not None:
                    break
                await asyncio.sleep(0.05)
            assert ticket is not None and ticket.satisfaction == 5
            assert compute([ticket]).satisfaction == 1.0  # the supervisor's figure for this session

        # The audit log has the rating, with the session it belongs to.
        out_dir = tmp_path / "export"
        await asyncio.to_thread(server.admin, "audit", "export", session, "--out", str(out_dir))
        exported = json.loads((out_dir / f"{session}.json").read_text())
        kinds = [json.loads(event["leaf"]) for event in exported["events"]]
        feedback = [doc for doc in kinds if doc["kind"] == "feedback"]
        assert len(feedback) == 1
        assert "quick and polite" in json.dumps(feedback[0])
        assert '"rating":5' in json.dumps(feedback[0], separators=(",", ":"))

        log = "".join(p.read_text("utf-8") for p in (agent.data / "logs").glob("*.log"))
        assert "You rated the session 5/5" in log
