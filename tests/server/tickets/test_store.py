import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.report import DiagnosisReport
from server.db.migrate import upgrade
from server.devices import store as devices
from server.tickets import store
from server.tickets.lifecycle import Event, Outcome, Party, TicketState, apply, end


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await upgrade(engine)
    yield engine


async def make_device(db: AsyncEngine, name: str = "Zhang San") -> devices.Device:
    customer = await devices.create_customer(db, name)
    code = await devices.create_enrollment_code(db, customer.id, "t", 300)
    return await devices.enroll_device(db, code, os.urandom(32), "PC")


async def new_ticket(
    db: AsyncEngine,
    device: devices.Device,
    words: str = "help",
    report: DiagnosisReport | None = None,
    lang: str = "en",
    node_id: str | None = "n_test",
) -> store.Ticket:
    return await store.create_ticket(
        db, node_id=node_id, device_id=device.id, customer_id=device.customer_id, words=words, report=report,
        lang=lang,
    )  # fmt: skip


REPORT = DiagnosisReport.model_validate(
    {
        "verdict": "offline",
        "root_cause": "dns.unreachable",
        "findings": [],
        "interface": "eth0",
        "duration_ms": 5,
    }
)


async def test_queue_positions_and_summaries(db: AsyncEngine) -> None:
    first = await make_device(db, "A")
    second = await make_device(db, "B")
    t1 = await new_ticket(db, first, words="no internet", report=REPORT, lang="zh-CN")
    await asyncio.sleep(0.01)
    t2 = await new_ticket(db, second, words="slow")
    assert await store.queue_position(db, t1) == 0
    assert await store.queue_position(db, t2) == 1
    summaries = await store.summaries(db)
    assert [s.ticket_id for s in summaries] == [t1.id, t2.id]
    assert summaries[0].root_cause == "dns.unreachable" and summaries[0].customer_name == "A"
    assert (await store.open_ticket_of_device(db, first.id)) == t1


async def test_only_one_engineer_wins_the_race(db: AsyncEngine) -> None:
    device = await make_device(db)
    ticket = await new_ticket(db, device)
    from server.accounts.engineers import create_engineer
    from server.accounts.roles import Role

    a = await create_engineer(db, "eng-a", "a long password", Role.ENGINEER)
    b = await create_engineer(db, "eng-b", "a long password", Role.ENGINEER)
    results = await asyncio.gather(
        store.transition(db, ticket.id, apply(ticket.state, Event.ACCEPT, Party.ENGINEER, engineer_id=a.id)),
        store.transition(db, ticket.id, apply(ticket.state, Event.ACCEPT, Party.ENGINEER, engineer_id=b.id)),
    )
    assert sorted(results) == [False, True]
    accepted = await store.get_ticket(db, ticket_id=ticket.id)
    assert accepted is not None and accepted.state is TicketState.ACCEPTED
    assert accepted.engineer_id in (a.id, b.id)


async def test_finish_feedback_and_adopt(db: AsyncEngine) -> None:
    device = await make_device(db)
    ticket = await new_ticket(db, device)
    assert not await store.record_feedback(db, ticket.session_id, device.id, 5)  # not ended yet
    assert await store.transition(db, ticket.id, end(ticket.state, Outcome.ENDED_BY_USER, Party.AGENT))
    # already ended: the first end wins
    assert not await store.transition(db, ticket.id, end(ticket.state, Outcome.TIMED_OUT, Party.SERVER))
    assert not await store.transition(db, ticket.id, end(None, Outcome.CONNECTION_LOST, Party.SERVER))
    assert not await store.record_feedback(db, ticket.session_id, "d_other", 5)
    assert await store.record_feedback(db, ticket.session_id, device.id, 4)
    assert not await store.record_feedback(db, ticket.session_id, device.id, 1)  # once
    open_one = await new_ticket(db, device, words="again")
    # A reconnecting agent's node takes the queued ticket over, once: a second taker read it stale.
    assert await store.adopt(db, open_one, "n_other")
    assert not await store.adopt(db, open_one, "n_third")
    adopted = await store.get_ticket(db, session_id=open_one.session_id)
    assert adopted is not None and adopted.node_id == "n_other"
    assert not await store.adopt(db, ticket, "n_other")  # ended tickets stay where they are


async def test_a_transition_is_one_compare_and_set(db: AsyncEngine) -> None:
    """Each move persists only from the states it names, sets the columns it implies, and (given a
    node) only while that node holds the ticket."""
    from server.accounts.engineers import create_engineer
    from server.accounts.roles import Role

    engineer = await create_engineer(db, "eng-cas", "a long password", Role.ENGINEER)
    device = await make_device(db)
    ticket = await new_ticket(db, device, node_id="n_a")
    offer = apply(TicketState.ACCEPTED, Event.OFFER, Party.SERVER)
    assert not await store.transition(db, ticket.id, offer)  # still queued: the compare fails
    accept = apply(ticket.state, Event.ACCEPT, Party.ENGINEER, engineer_id=engineer.id)
    assert await store.transition(db, ticket.id, accept)
    assert await store.transition(db, ticket.id, offer)
    assert await store.transition(db, ticket.id, apply(TicketState.OFFERED, Event.USER_ACCEPT, Party.AGENT))
    lost = end(None, Outcome.CONNECTION_LOST, Party.SERVER)
    assert not await store.transition(db, ticket.id, lost, node_id="n_b")  # another node does not hold it
    assert await store.transition(db, ticket.id, lost, node_id="n_a")
    rows = await store.list_tickets(db)
    row = next(r for r in rows if r["id"] == ticket.id)
    assert (
        row["state"] == "ended" and row["outcome"] == "connection_lost" and row["engineer_id"] == engineer.id
    )
    assert row["accepted_at"] is not None and row["started_at"] is not None and row["ended_at"] is not None
