"""Node liveness and the orphan sweep: a crashed node's open tickets are ended by the nodes still alive.

Every node has a row in `nodes` (a random id chosen at start), refreshed every `node_heartbeat`
seconds and removed on a clean shutdown; every ticket names the node whose agent link holds it
(`tickets.node_id`). On each heartbeat a node sweeps: an open ticket whose node has no row, or a row
older than `node_dead_after`, lost its agent's connection with that node, and is ended as
`connection_lost` — audited (`session.end`, actor `system`), counted, removed from every engineer's
queue, and its engineer (if any) told. Dead rows are deleted.

The other way round: a session held here whose engineer's console was connected to a node now dead
lost that connection without a word (a dead node sends no `engineer.away`). The sweep tells its agent
link, which waits `engineer_grace` for the engineer's console to come back (through any node) and
otherwise ends the session as `connection_lost`; the wait is audited with the lost node's id.

Several nodes sweep at once. Each ticket is first *claimed* by one conditional UPDATE (still open,
still naming the dead node, that node still not seen): exactly one node wins it, and only the winner
audits and ends it. If the audit write fails, the claim is given back and the next heartbeat retries.

Tickets with no node (NULL: created before revision 0003_nodes) are orphans once older than
`node_dead_after`: after an upgrade the node that made them is gone, and the age keeps a ticket that a
pre-0003 node still running beside new ones created a moment ago from being ended at once.

The heartbeat also deletes command outputs past their retention (`server.tickets.outputs`), at most
every `OUTPUT_PURGE_EVERY` seconds.

A node started without `redis_url` has no way to reach another node, so it is alone: at start-up
every other node row is dead and every open ticket of a previous run is ended before it serves
(the single node's "end what the last run left open").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.messages import SessionEnd, SessionEndBody
from server.audit import AuditWriteError
from server.db.tables import nodes, utcnow
from server.relay import queue
from server.relay.notes import Note, NoteKind, engineer_topic
from server.relay.services import Services
from server.tickets import outputs
from server.tickets import store as tickets
from server.tickets.lifecycle import Outcome, Party, end
from server.tickets.store import Ticket

log = logging.getLogger("rme.relay.nodes")

OUTPUT_PURGE_EVERY = 600.0  # seconds between deletions of expired command outputs (on each node)
NODE_LOST_NOTE = "the server node holding the user's connection was lost"


# -- node rows --------------------------------------------------------------------------------------


async def register(engine: AsyncEngine, node_id: str) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(nodes.insert().values(id=node_id, started_at=now, seen_at=now))


async def beat(engine: AsyncEngine, node_id: str) -> bool:
    """Refresh the node's row; False if it was gone (other nodes took this node for dead)."""
    async with engine.begin() as conn:
        result = await conn.execute(nodes.update().where(nodes.c.id == node_id).values(seen_at=utcnow()))
    if result.rowcount == 1:
        return True
    await register(engine, node_id)
    return False


async def deregister(engine: AsyncEngine, node_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(nodes.delete().where(nodes.c.id == node_id))


def _live(node_id: str, cutoff: dt.datetime) -> sa.Select[tuple[str]]:
    """Ids of live nodes: seen since `cutoff`, and this one."""
    return sa.select(nodes.c.id).where(sa.or_(nodes.c.seen_at >= cutoff, nodes.c.id == node_id))


async def live_nodes(engine: AsyncEngine, node_id: str, cutoff: dt.datetime) -> set[str]:
    async with engine.connect() as conn:
        return {str(row[0]) for row in await conn.execute(_live(node_id, cutoff))}


async def forget_dead(engine: AsyncEngine, node_id: str, cutoff: dt.datetime) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(nodes.delete().where(nodes.c.id.not_in(_live(node_id, cutoff))))
    return int(result.rowcount)


# -- the sweep --------------------------------------------------------------------------------------


class NodeKeeper:
    """This node's row, heartbeat task and sweep (one per process, started in the app's lifespan)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.node_id = services.node_id
        self._task: asyncio.Task[None] | None = None
        self._purged_at: float | None = None
        self.longest_gap = 0.0  # seconds between two row refreshes, at most, since start

    async def start(self, *, alone: bool) -> None:
        """Register, sweep once (`alone`: every other node is dead), then beat in the background."""
        engine = self.services.engine
        await register(engine, self.node_id)
        ended = await self.sweep(utcnow() if alone else None)
        if ended:
            log.info("ended tickets of lost server nodes", extra={"count": ended})
        self._task = asyncio.create_task(self._run(), name="node-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await deregister(self.services.engine, self.node_id)
        except Exception:  # shutting down anyway; the row goes stale and other nodes remove it
            log.exception("could not remove this node's row")

    async def _run(self) -> None:
        config = self.services.config
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(config.node_heartbeat)
            try:
                if not await beat(self.services.engine, self.node_id):
                    log.warning(
                        "this node's row was gone: other nodes took it for dead and ended its tickets",
                        extra={"node": self.node_id},
                    )
                # How late the beats come: a loop stalled by a connect storm shows here first.
                now = loop.time()
                self.longest_gap = max(self.longest_gap, now - last)
                self.services.metrics.heartbeat_gap.set(self.longest_gap)
                last = now
                ended = await self.sweep()
                if ended:
                    log.info("ended tickets of lost server nodes", extra={"count": ended})
                await self.purge_outputs()
            except Exception:  # a database or bus hiccup must not stop the heartbeat
                log.exception("node heartbeat or sweep failed", extra={"node": self.node_id})

    async def purge_outputs(self, now: float | None = None) -> int:
        """Delete the command outputs past their retention, at most once per `OUTPUT_PURGE_EVERY`
        seconds (every node does it; deleting twice is harmless). Returns how many were deleted."""
        now = asyncio.get_running_loop().time() if now is None else now
        if self._purged_at is not None and now - self._purged_at < OUTPUT_PURGE_EVERY:
            return 0
        self._purged_at = now
        purged = await outputs.purge(self.services.engine)
        if purged:
            log.info("deleted command outputs past their retention", extra={"count": purged})
        return purged

    async def sweep(self, cutoff: dt.datetime | None = None) -> int:
        """End the open tickets of nodes not seen since `cutoff` (default: `node_dead_after` ago) and
        delete those nodes' rows. Returns how many tickets this node ended."""
        engine = self.services.engine
        if cutoff is None:
            cutoff = utcnow() - dt.timedelta(seconds=self.services.config.node_dead_after)
        ended = 0
        for ticket in await tickets.orphaned(engine, _live(self.node_id, cutoff), cutoff):
            if await self._end(ticket, cutoff):
                ended += 1
        await self._engineers_lost(await live_nodes(engine, self.node_id, cutoff))
        await forget_dead(engine, self.node_id, cutoff)
        return ended

    async def _engineers_lost(self, live: set[str]) -> None:
        """Sessions held here whose engineer's console was on a node now dead start waiting for the
        engineer (`engineer_grace`), as if the console had closed: a dead node cannot say so itself."""
        for link in list(self.services.agents.values()):
            node = link.engineer_node()
            if node is None or node in live:
                continue
            try:
                await link.engineer_node_lost(node)
            except Exception:  # one session's trouble must not keep the others waiting forever
                log.exception("could not start the wait for a lost engineer", extra={"node": node})

    async def _end(self, ticket: Ticket, cutoff: dt.datetime) -> bool:
        services = self.services
        engine = services.engine
        if ticket.node_id is None:
            still_dead: sa.ColumnElement[bool] = sa.true()
        else:
            came_back = sa.exists().where(nodes.c.id == ticket.node_id, nodes.c.seen_at >= cutoff)
            still_dead = ~came_back
        if not await tickets.claim_orphan(engine, ticket, self.node_id, still_dead):
            return False  # another node won it, or its agent came back elsewhere
        outcome = Outcome.CONNECTION_LOST
        try:
            await services.record(
                "session.end",
                "system",
                ticket.session_id,
                {
                    "reason": outcome.value,
                    "resolution": None,
                    "note": f"{NODE_LOST_NOTE} (node {ticket.node_id or 'unknown'})",
                    "ticket": ticket.id,
                },
            )
        except AuditWriteError:
            log.warning(
                "orphaned ticket not ended: its end could not be recorded; retrying on the next heartbeat",
                extra={"ticket": ticket.id},
            )
            await tickets.unclaim_orphan(engine, ticket, self.node_id)
            return False
        # Whatever open state it is in now (the table allows a lost connection from any), if still ours.
        lost = end(None, outcome, Party.SERVER)
        if not await tickets.transition(engine, ticket.id, lost, node_id=self.node_id):
            log.warning("claimed orphan was ended by someone else meanwhile", extra={"ticket": ticket.id})
            return False
        services.metrics.tickets.labels(outcome.value).inc()
        if ticket.engineer_id is not None:
            topic = engineer_topic(ticket.engineer_id)
            session = ticket.session_id
            message = SessionEnd(session=session, body=SessionEndBody(reason=outcome.value))
            await services.bus.publish(
                topic, Note(NoteKind.FRAME, "server", session, message.model_dump_json())
            )
            await services.bus.publish(topic, Note(NoteKind.SESSION_CLOSED, "server", session))
        await queue.announce(engine, services.bus, removed=[ticket.id])
        return True
