"""Node liveness and the orphan sweep (`server.relay.nodes`) on SQLite and PostgreSQL: a dead node's
open tickets are ended once, audited, pushed; live nodes' tickets are left alone; racing sweepers
end each ticket exactly once; a failed audit write leaves the ticket for the next heartbeat. And a
real single node, killed with a ticket open and restarted, ends it at start-up (two nodes:
`test_multinode.py`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.messages import HelpQueued, HelpRequest, HelpRequestBody, QueueUpdate, SessionEnd
from server.accounts.engineers import create_engineer
from server.accounts.roles import Role
from server.audit import AuditLog, AuditWriteError, JsonValue, NoteSigner
from server.audit.schema import audit_events
from server.config import ServerConfig
from server.db.engine import open_engine
from server.db.migrate import upgrade
from server.db.tables import new_id, nodes, tickets, utcnow
from server.metrics import Metrics
from server.relay import nodes as node_rows
from server.relay.bus import InProcessBus
from server.relay.nodes import NodeKeeper
from server.relay.notes import ENGINEERS_TOPIC, Note, engineer_topic
from server.relay.services import AuditSink, Services
from server.tickets import store
from server.tickets.lifecycle import Event, Party, TicketState, apply
from tests.server.helpers import (
    ADMIN,
    AgentIdentity,
    agent_enroll,
    audit_kinds,
    logged_in,
    new_customer_code,
    running_server,
    start_server,
)
from tests.server.tickets.test_store import make_device, new_ticket

CONFIG = ServerConfig(node_heartbeat=0.5, node_dead_after=2.0)
SIGNER = NoteSigner.generate("rme.test/audit")


def services(engine: AsyncEngine, audit: AuditSink | None = None, node_id: str | None = None) -> Services:
    return Services(
        config=CONFIG,
        engine=engine,
        audit=audit or AuditLog(engine, SIGNER),
        bus=InProcessBus(),
        metrics=Metrics(),
        channel_binding=b"",
        node_id=node_id or new_id("n"),
    )


class BrokenAudit:
    async def append(
        self, kind: str, actor: str, session_id: str | None, data: Mapping[str, JsonValue]
    ) -> object:
        raise AuditWriteError("disk full")


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    await upgrade(engine)
    yield engine


async def node_seen(db: AsyncEngine, node_id: str, ago: float) -> None:
    """A node row last seen `ago` seconds ago."""
    seen = utcnow() - dt.timedelta(seconds=ago)
    async with db.begin() as conn:
        await conn.execute(nodes.insert().values(id=node_id, started_at=seen, seen_at=seen))


async def open_ticket(db: AsyncEngine, node_id: str | None, state: TicketState = TicketState.QUEUED) -> str:
    device = await make_device(db)
    ticket = await new_ticket(db, device, node_id=node_id)
    if state is not TicketState.QUEUED:
        engineer = await create_engineer(db, new_id("eng"), "a long password", Role.ENGINEER)
        assert await store.transition(
            db, ticket.id, apply(TicketState.QUEUED, Event.ACCEPT, Party.ENGINEER, engineer_id=engineer.id)
        )
        if state is TicketState.ACTIVE:
            assert await store.transition(
                db, ticket.id, apply(TicketState.ACCEPTED, Event.OFFER, Party.SERVER)
            )
            assert await store.transition(
                db, ticket.id, apply(TicketState.OFFERED, Event.USER_ACCEPT, Party.AGENT)
            )
    return ticket.id


async def age(db: AsyncEngine, ticket_id: str, seconds: float) -> None:
    async with db.begin() as conn:
        await conn.execute(
            tickets.update()
            .where(tickets.c.id == ticket_id)
            .values(created_at=utcnow() - dt.timedelta(seconds=seconds))
        )


async def state_of(db: AsyncEngine, ticket_id: str) -> tuple[TicketState, str | None, str | None]:
    ticket = await store.get_ticket(db, ticket_id=ticket_id)
    assert ticket is not None
    async with db.connect() as conn:
        outcome = await conn.scalar(sa.select(tickets.c.outcome).where(tickets.c.id == ticket_id))
    return ticket.state, outcome, ticket.node_id


async def ends_recorded(db: AsyncEngine) -> list[dict[str, JsonValue]]:
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_events.c.actor, audit_events.c.canonical).where(
                    audit_events.c.kind == "session.end"
                )
            )
        ).all()
    assert all(r.actor == "system" for r in rows)
    return [json.loads(r.canonical)["data"] for r in rows]


async def test_sweep_ends_dead_nodes_tickets_only(db: AsyncEngine) -> None:
    live = services(db)
    keeper = NodeKeeper(live)
    await node_rows.register(db, live.node_id)
    await node_seen(db, "n_dead", ago=5)  # not seen for longer than node_dead_after
    await node_seen(db, "n_alive", ago=0.5)
    dead_queued = await open_ticket(db, "n_dead")
    dead_active = await open_ticket(db, "n_dead", TicketState.ACTIVE)
    gone_node = await open_ticket(db, "n_no_row", TicketState.ACCEPTED)  # its row was already removed
    alive = await open_ticket(db, "n_alive", TicketState.ACTIVE)
    mine = await open_ticket(db, live.node_id)
    legacy_old = await open_ticket(db, None)  # from before revision 0003: owner unknown
    await age(db, legacy_old, 60)
    legacy_new = await open_ticket(db, None)
    active = await store.get_ticket(db, ticket_id=dead_active)
    assert active is not None and active.engineer_id is not None

    queue: list[Note] = []
    to_engineer: list[Note] = []

    async def on_queue(note: Note) -> None:
        queue.append(note)

    async def on_engineer(note: Note) -> None:
        to_engineer.append(note)

    await live.bus.subscribe(ENGINEERS_TOPIC, on_queue)
    await live.bus.subscribe(engineer_topic(active.engineer_id), on_engineer)

    await node_rows.beat(db, "n_alive")  # the set-up above may take seconds on a loaded machine
    assert await keeper.sweep() == 4
    for ticket_id in (dead_queued, dead_active, gone_node, legacy_old):
        state, outcome, node = await state_of(db, ticket_id)
        assert (state, outcome, node) == (TicketState.ENDED, "connection_lost", live.node_id)
    for ticket_id in (alive, mine, legacy_new):
        assert (await state_of(db, ticket_id))[0] is not TicketState.ENDED
    # Audited once each, with the ticket and the lost node; counted; removed from every queue.
    recorded = await ends_recorded(db)
    assert sorted(str(e["ticket"]) for e in recorded) == sorted(
        [dead_queued, dead_active, gone_node, legacy_old]
    )
    assert all(e["reason"] == "connection_lost" and "server node" in str(e["note"]) for e in recorded)
    assert "n_dead" in str(next(e["note"] for e in recorded if e["ticket"] == dead_active))
    assert live.metrics.tickets.labels("connection_lost")._value.get() == 4
    removed = [t for n in queue for t in QueueUpdate.model_validate_json(n.frame).body.removed]
    assert sorted(removed) == sorted([dead_queued, dead_active, gone_node, legacy_old])
    # The session's engineer is told the session ended, and the session is closed for them.
    assert [n.kind for n in to_engineer] == ["frame", "session.closed"]
    end = SessionEnd.model_validate_json(to_engineer[0].frame)
    assert end.body.reason == "connection_lost" and end.session == active.session_id
    # The dead node's row is gone; the live ones stay. A second sweep finds nothing.
    async with db.connect() as conn:
        rows = set((await conn.execute(sa.select(nodes.c.id))).scalars())
    assert rows == {live.node_id, "n_alive"}
    assert await keeper.sweep() == 0
    assert len(await ends_recorded(db)) == 4


async def test_racing_sweepers_end_each_ticket_once(database_url: str, db: AsyncEngine) -> None:
    await node_seen(db, "n_dead", ago=10)
    orphans = [
        await open_ticket(db, "n_dead", state) for state in TicketState if state is not TicketState.ENDED
    ]
    orphans += [await open_ticket(db, "n_dead") for _ in range(8)]
    # Two nodes, each with its own engine and audit log, as two processes would be.
    engines = [open_engine(database_url) for _ in range(2)]
    try:
        keepers = [NodeKeeper(services(engine)) for engine in engines]
        for keeper in keepers:
            await node_rows.register(db, keeper.node_id)
        counts = await asyncio.gather(*(keeper.sweep() for keeper in keepers))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(counts) == len(orphans)
    for ticket_id in orphans:
        assert (await state_of(db, ticket_id))[:2] == (TicketState.ENDED, "connection_lost")
    recorded = sorted(str(e["ticket"]) for e in await ends_recorded(db))
    assert recorded == sorted(orphans)  # one audit event per ticket


async def test_failed_audit_leaves_the_ticket_for_the_next_heartbeat(db: AsyncEngine) -> None:
    await node_seen(db, "n_dead", ago=10)
    ticket_id = await open_ticket(db, "n_dead", TicketState.ACTIVE)
    broken = services(db, audit=BrokenAudit())
    await node_rows.register(db, broken.node_id)
    assert await NodeKeeper(broken).sweep() == 0
    assert await state_of(db, ticket_id) == (TicketState.ACTIVE, None, "n_dead")  # given back
    assert broken.metrics.audit_failures._value.get() == 1
    working = services(db, node_id=broken.node_id)  # the audit log is back
    assert await NodeKeeper(working).sweep() == 1
    assert (await state_of(db, ticket_id))[:2] == (TicketState.ENDED, "connection_lost")


async def test_a_node_seen_again_keeps_its_tickets(db: AsyncEngine) -> None:
    await node_seen(db, "n_slow", ago=10)
    ticket_id = await open_ticket(db, "n_slow")
    ticket = await store.get_ticket(db, ticket_id=ticket_id)
    assert ticket is not None
    assert await node_rows.beat(db, "n_slow")  # it beats again between the sweeper's read and claim
    cutoff = utcnow() - dt.timedelta(seconds=CONFIG.node_dead_after)
    came_back = sa.exists().where(nodes.c.id == "n_slow", nodes.c.seen_at >= cutoff)
    assert not await store.claim_orphan(db, ticket, "n_sweeper", ~came_back)
    assert await state_of(db, ticket_id) == (TicketState.QUEUED, None, "n_slow")


async def test_heartbeat_start_and_stop(db: AsyncEngine) -> None:
    live = services(db)
    keeper = NodeKeeper(live)
    await node_seen(db, "n_previous_run", ago=1)  # fresh, but a lone node knows it is not running
    left_open = await open_ticket(db, "n_previous_run", TicketState.ACTIVE)
    await keeper.start(alone=True)
    try:
        assert (await state_of(db, left_open))[:2] == (TicketState.ENDED, "connection_lost")
        async with db.connect() as conn:
            first = await conn.scalar(sa.select(nodes.c.seen_at).where(nodes.c.id == live.node_id))
            assert set((await conn.execute(sa.select(nodes.c.id))).scalars()) == {live.node_id}
        await asyncio.sleep(CONFIG.node_heartbeat * 2.5)
        async with db.connect() as conn:
            later = await conn.scalar(sa.select(nodes.c.seen_at).where(nodes.c.id == live.node_id))
        assert first is not None and later is not None and later > first
    finally:
        await keeper.stop()
    async with db.connect() as conn:
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(nodes))) == 0  # removed on stop
    # Other nodes took a node for dead and removed its row: its next beat puts the row back.
    assert not await node_rows.beat(db, live.node_id)
    assert await node_rows.beat(db, live.node_id)


# -- a real single node ---------------------------------------------------------------------------


async def test_a_killed_single_node_ends_its_tickets_at_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rme.db'}"
    with running_server(tmp_path, url) as server:
        async with logged_in(server, *ADMIN) as admin:
            _, code = await new_customer_code(admin)
        agent = await agent_enroll(server, AgentIdentity(), code)
        await agent.send(HelpRequest(body=HelpRequestBody(words="help", lang="en")))
        ticket_id = (await agent.expect(HelpQueued)).body.ticket_id
        server.process.kill()  # SIGKILL: its node row stays, fresh, and the ticket open
        server.process.wait()
        await agent.close()
    restarted = start_server(tmp_path, url)  # a lone node (no Redis): every other node row is dead
    try:
        async with logged_in(restarted, *ADMIN) as admin:  # ready means the start-up sweep is done
            assert (await admin.get(f"/api/tickets/{ticket_id}")).json()["state"] == "ended"
            session = (await admin.get(f"/api/tickets/{ticket_id}")).json()["session_id"]
        assert ("session.end", "system", session) in await audit_kinds(restarted, "system")
    finally:
        restarted.stop()


async def test_the_heartbeat_purges_expired_outputs_at_most_every_ten_minutes(db: AsyncEngine) -> None:
    from server.relay.nodes import OUTPUT_PURGE_EVERY
    from server.tickets import outputs

    keeper = NodeKeeper(services(db))

    async def short_lived(message: str) -> None:
        await outputs.keep(
            db,
            "s_1",
            message_id=message,
            action_id="a_1",
            sha256="0" * 64,
            size=1,
            text="x",
            retention_s=0.001,
        )
        await asyncio.sleep(0.01)

    await short_lived("m_1")
    assert await keeper.purge_outputs(now=1000.0) == 1
    await short_lived("m_2")
    assert await keeper.purge_outputs(now=1060.0) == 0  # too soon after the last purge
    assert await keeper.purge_outputs(now=1000.0 + OUTPUT_PURGE_EVERY) == 1
