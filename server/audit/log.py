"""`AuditLog`: the server's append-only, Merkle-tree audit log on SQLAlchemy (async).

Writes use group commit: every `append` queues its entry and waits; one writer task takes whatever
is queued, writes it in one transaction under the append lock, commits (fsync), then resolves all
the waiters. A caller therefore returns only once its record is durable, but concurrent callers
share the cost of a commit — which is what makes thousands of appends a second possible on SQLite.
Any failure to write becomes `AuditWriteError` for every entry of that batch: the server refuses
the actions they describe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.audit import store
from server.audit.cosign import WitnessVerifier
from server.audit.events import (
    AuditEntry,
    AuditIntegrityError,
    AuditRecord,
    AuditWriteError,
    event_bytes,
)
from server.audit.export import ExportedEvent, SessionAuditExport
from server.audit.failures import FailureAggregator
from server.audit.jcs import JsonValue
from server.audit.merkle import (
    CompactRange,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    perfect_subtrees,
)
from server.audit.note import Checkpoint, NoteSigner, NoteVerifier, SignedCheckpoint
from server.audit.schema import audit_checkpoints, audit_cosignatures, audit_events, audit_nodes
from server.audit.verify_log import ExternalCheckpoint, LogVerificationReport, verify_log

if TYPE_CHECKING:
    from server.audit.witness_client import WitnessClient

__all__ = ["AuditLog"]

MAX_BATCH = 1000


@dataclass(slots=True)
class _Head:
    size: int
    frontier: list[bytes]
    last_in_session: dict[str, int]


MAX_CACHED_SESSIONS = 10_000


@dataclass(slots=True)
class _Pending:
    entries: Sequence[tuple[AuditEntry, bytes]]  # with each entry's canonical data
    done: asyncio.Future[list[AuditRecord]]


def _write_error(cause: Exception) -> AuditWriteError:
    error = AuditWriteError(f"audit write failed: {cause}")
    error.__cause__ = cause
    return error


class AuditLog:
    """The audit log over `engine`, signing checkpoints with `signer` under `origin`.

    `origin` names the log in every checkpoint (c2sp.org/tlog-checkpoint); it defaults to the
    signer's key name. One instance per process is enough; several processes (server nodes) may
    share a database — the append lock orders them.
    """

    def __init__(self, engine: AsyncEngine, signer: NoteSigner, *, origin: str | None = None) -> None:
        self._engine = engine
        self._signer = signer
        self.origin = origin or signer.name
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        # What this process last wrote: valid only while the table still ends where we left it (the
        # size only grows, so an equal size means no other node appended in between).
        self._head: _Head | None = None
        # Anonymous failures are counted here and sampled into the log (`failures.py`).
        self.failures = FailureAggregator(self)
        # Where checkpoints go to be cosigned (`witness_client.py`); set by `setup.open_audit_log`.
        self.witness: WitnessClient | None = None

    @property
    def verifier_key(self) -> str:
        return str(self._signer.verifier)

    def sign_line(self, body: bytes) -> str:
        """A signed-note signature line over `body` with the log's key (service receipts use it)."""
        return self._signer.sign_line(body)

    # -- appending ---------------------------------------------------------------------------------

    async def append(
        self, kind: str, actor: str, session_id: str | None, data: Mapping[str, JsonValue]
    ) -> AuditRecord:
        """Record one event; returns once it is durable. Raises `AuditWriteError` otherwise."""
        (record,) = await self.append_many([AuditEntry(kind, actor, session_id, data)])
        return record

    async def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Record several events atomically and in order (all or none); returns their records."""
        if not entries:
            return []
        prepared = [(entry, entry.validate()) for entry in entries]
        pending = _Pending(prepared, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="audit-log-writer")
        # shield: a caller that gives up waiting must not cancel the write the others share.
        return await asyncio.shield(pending.done)

    async def _drain(self) -> None:
        while self._queue:
            batch: list[_Pending] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].entries) <= MAX_BATCH):
                item = self._queue.pop(0)
                batch.append(item)
                count += len(item.entries)
            try:
                records = await self._write([entry for item in batch for entry in item.entries])
            except Exception as exc:  # any failure means "not durable"
                error = exc if isinstance(exc, AuditWriteError) else _write_error(exc)
                if error is not exc:
                    error.__cause__ = exc
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(error)
                continue
            position = 0
            for item in batch:
                if not item.done.done():
                    item.done.set_result(records[position : position + len(item.entries)])
                position += len(item.entries)
            # Let the callers just woken queue their next entries, so the next commit carries them all.
            await asyncio.sleep(0)

    async def _write(self, entries: Sequence[tuple[AuditEntry, bytes]]) -> list[AuditRecord]:
        async with store.locked_transaction(self._engine) as conn:
            size = await store.tree_size(conn)
            head = self._head if self._head is not None and self._head.size == size else None
            self._head = None  # until this write commits
            if head is None:
                tree = await self._open_tree(conn, size)
                last_in_session: dict[str, int] = {}
            else:
                tree = CompactRange(size, head.frontier)
                last_in_session = head.last_in_session
            tree.record_nodes = True
            sessions = {entry.session_id for entry, _ in entries if entry.session_id is not None}
            unknown = sessions - last_in_session.keys() if head is not None else sessions
            last_in_session.update(await store.last_session_indexes(conn, unknown))
            moment = datetime.now(UTC)
            records: list[AuditRecord] = []
            rows = []
            for offset, (entry, data) in enumerate(entries):
                index = size + offset
                previous = last_in_session.get(entry.session_id) if entry.session_id else None
                canonical = event_bytes(index, moment, entry, previous, data)
                digest = leaf_hash(canonical)
                tree.append(digest)
                if entry.session_id:
                    last_in_session[entry.session_id] = index
                record = AuditRecord(
                    index, digest, moment, entry.kind, entry.actor, entry.session_id, canonical
                )
                rows.append(store.event_row(record))
                records.append(record)
            await conn.execute(audit_events.insert(), rows)
            if tree.completed:
                await conn.execute(
                    audit_nodes.insert(),
                    [{"level": level, "node_index": index, "hash": h} for level, index, h in tree.completed],
                )
        if len(last_in_session) > MAX_CACHED_SESSIONS:
            last_in_session = {}
        self._head = _Head(tree.size, tree.frontier(), last_in_session)
        return records

    @staticmethod
    async def _open_tree(conn: AsyncConnection, size: int) -> CompactRange:
        nodes = perfect_subtrees(0, size)
        found = await store.fetch_nodes(conn, nodes)
        return CompactRange(size, [found[node] for node in nodes])

    # -- tree heads and proofs ---------------------------------------------------------------------

    async def size(self) -> int:
        async with self._engine.connect() as conn:
            return await store.tree_size(conn)

    async def root(self, size: int) -> bytes:
        """MTH of the first `size` leaves."""
        async with store.read_transaction(self._engine) as conn:
            await self._check_size(conn, size)
            return (await self._open_tree(conn, size)).root()

    async def checkpoint(self) -> SignedCheckpoint:
        """Sign (and store) a checkpoint of the whole log as it is now; reuses one of the same size."""
        try:
            async with store.locked_transaction(self._engine) as conn:
                size = await store.tree_size(conn)
                existing = await self._stored_checkpoint(conn, size)
                if existing is not None:
                    return existing
                root = (await self._open_tree(conn, size)).root()
                signed = Checkpoint(self.origin, size, root).sign(self._signer)
                await conn.execute(
                    audit_checkpoints.insert().values(
                        tree_size=size, root_hash=root, note=signed.note, created_at=datetime.now(UTC)
                    )
                )
                return signed
        except AuditIntegrityError:
            raise
        except Exception as exc:
            raise AuditWriteError(f"could not store a checkpoint: {exc}") from exc

    async def _stored_checkpoint(self, conn: AsyncConnection, size: int) -> SignedCheckpoint | None:
        row = (
            await conn.execute(
                sa.select(audit_checkpoints.c.root_hash, audit_checkpoints.c.note).where(
                    audit_checkpoints.c.tree_size == size
                )
            )
        ).first()
        if row is None:
            return None
        checkpoint = Checkpoint.parse_body(row.note.partition("\n\n")[0] + "\n")
        if checkpoint.origin != self.origin:
            return None  # signed under another origin: re-signing would collide, so refuse below
        return SignedCheckpoint(checkpoint, row.note)

    async def latest_checkpoint(self) -> SignedCheckpoint | None:
        async with self._engine.connect() as conn:
            highest = (await conn.execute(sa.select(sa.func.max(audit_checkpoints.c.tree_size)))).scalar()
            if highest is None:
                return None
            return await self._stored_checkpoint(conn, int(highest))

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1) from stored nodes."""
        async with store.read_transaction(self._engine) as conn:
            await self._check_size(conn, size)
            return await store.range_hashes(conn, inclusion_ranges(index, size))

    async def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1) from stored nodes."""
        async with store.read_transaction(self._engine) as conn:
            await self._check_size(conn, new)
            return await store.range_hashes(conn, consistency_ranges(old, new))

    @staticmethod
    async def _check_size(conn: AsyncConnection, size: int) -> None:
        current = await store.tree_size(conn)
        if not 0 <= size <= current:
            raise ProofError(f"tree size {size} is beyond the log's {current} leaves")

    # -- exports and verification ------------------------------------------------------------------

    async def export_session(self, session_id: str) -> SessionAuditExport:
        """The session's events with inclusion proofs to one fresh signed checkpoint."""
        signed = await self.checkpoint()
        size = signed.checkpoint.size
        async with store.read_transaction(self._engine) as conn:
            rows = (
                await conn.execute(
                    sa.select(audit_events.c.leaf_index, audit_events.c.canonical)
                    .where(audit_events.c.session_id == session_id, audit_events.c.leaf_index < size)
                    .order_by(audit_events.c.leaf_index)
                )
            ).all()
            events = []
            for index, canonical in rows:
                proof = await store.range_hashes(conn, inclusion_ranges(int(index), size))
                events.append(ExportedEvent(int(index), bytes(canonical).decode("utf-8"), proof))
        return SessionAuditExport(
            session_id=session_id,
            origin=self.origin,
            checkpoint=signed.note,
            verifier_key=self.verifier_key,
            indexes=[event.index for event in events],
            events=events,
            created_at=datetime.now(UTC),
        )

    async def verify_log(
        self,
        *,
        deep: bool = False,
        trusted: NoteVerifier | None = None,
        witnesses: Sequence[WitnessVerifier] = (),
        external: Sequence[ExternalCheckpoint] = (),
    ) -> LogVerificationReport:
        """Recompute the whole tree from the table and check it against every signed checkpoint.

        `trusted` defaults to this log's own key; pass the published one to check against that."""
        key = trusted or self._signer.verifier
        return await verify_log(self._engine, key, deep=deep, witnesses=witnesses, external=external)

    # -- witnesses and evidence --------------------------------------------------------------------

    async def add_cosignature(self, size: int, witness: str, line: str) -> None:
        """Store a witness's cosignature line on the checkpoint of `size` (once per witness and size)."""
        try:
            async with self._engine.begin() as conn:
                exists = (
                    await conn.execute(
                        sa.select(audit_cosignatures.c.tree_size).where(
                            audit_cosignatures.c.tree_size == size, audit_cosignatures.c.witness == witness
                        )
                    )
                ).first()
                if exists is None:
                    await conn.execute(
                        audit_cosignatures.insert().values(
                            tree_size=size, witness=witness, line=line, created_at=datetime.now(UTC)
                        )
                    )
        except Exception as exc:
            raise AuditWriteError(f"could not store a cosignature: {exc}") from exc

    async def cosigned_size(self, witness: str) -> int:
        """The largest checkpoint size `witness` has cosigned for us (0: none)."""
        async with self._engine.connect() as conn:
            highest = (
                await conn.execute(
                    sa.select(sa.func.max(audit_cosignatures.c.tree_size)).where(
                        audit_cosignatures.c.witness == witness
                    )
                )
            ).scalar()
        return 0 if highest is None else int(highest)

    async def cosignatures(self, size: int) -> list[str]:
        """Every stored cosignature line on the checkpoint of `size`."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(audit_cosignatures.c.line)
                .where(audit_cosignatures.c.tree_size == size)
                .order_by(audit_cosignatures.c.witness)
            )
            return [str(line) for (line,) in rows.all()]

    async def last_event_of(self, session_id: str) -> tuple[int, bytes] | None:
        """The newest event of a session: its leaf index and canonical bytes."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(audit_events.c.leaf_index, audit_events.c.canonical)
                    .where(audit_events.c.session_id == session_id)
                    .order_by(audit_events.c.leaf_index.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else (int(row[0]), bytes(row[1]))
