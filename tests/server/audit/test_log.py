"""`AuditLog` on real databases: gapless appends across writers, proofs, checkpoints, write failures."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.audit import AuditEntry, AuditLog, AuditWriteError, InvalidAuditEvent, NoteSigner, verify_export
from server.audit.events import event_bytes, event_document
from server.audit.jcs import canonicalize
from server.audit.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from server.audit.note import open_checkpoint
from server.audit.schema import audit_events


async def leaf_hashes(engine: AsyncEngine) -> list[bytes]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(audit_events.c.leaf_hash).order_by(audit_events.c.leaf_index))
        return [bytes(row[0]) for row in rows]


async def test_append_returns_the_durable_leaf(audit_log: AuditLog, audit_engine: AsyncEngine) -> None:
    first = await audit_log.append("auth.login", "engineer:alice", None, {"ip": "192.0.2.7"})
    second = await audit_log.append("session.request", "engineer:alice", "s-1", {"action": "diagnose"})
    third = await audit_log.append("session.consent", "user", "s-1", {"allowed": True})
    assert [first.index, second.index, third.index] == [0, 1, 2]
    assert third.leaf_hash == leaf_hash(third.canonical)
    document = json.loads(third.canonical)
    assert document == {
        "v": 1,
        "index": 2,
        "time": document["time"],
        "kind": "session.consent",
        "actor": "user",
        "session": "s-1",
        "session_prev": 1,
        "data": {"allowed": True},
    }
    assert json.loads(second.canonical)["session_prev"] is None
    assert await leaf_hashes(audit_engine) == [first.leaf_hash, second.leaf_hash, third.leaf_hash]


async def test_concurrent_appends_are_grouped_and_gapless(
    audit_log: AuditLog, audit_engine: AsyncEngine
) -> None:
    records = await asyncio.gather(
        *(audit_log.append("relay.frame", "agent:d-1", f"s-{n % 4}", {"n": n}) for n in range(300))
    )
    assert sorted(r.index for r in records) == list(range(300))
    assert root_of(await leaf_hashes(audit_engine)) == await audit_log.root(300)


async def test_several_nodes_on_one_database_interleave_without_gaps(
    audit_engine: AsyncEngine, database_url: str, signer: NoteSigner
) -> None:
    # Three "server nodes": separate engines (connection pools) and AuditLog instances.
    engines = [audit_engine] + [create_async_engine(database_url) for _ in range(2)]
    try:
        logs = [AuditLog(eng, signer) for eng in engines]

        async def node(number: int, log: AuditLog) -> list[int]:
            indexes = []
            for n in range(40):
                record = await log.append("relay.frame", f"node:{number}", f"s-{n % 3}", {"n": n})
                indexes.append(record.index)
            return indexes

        results = await asyncio.gather(*(node(number, log) for number, log in enumerate(logs)))
        assert sorted(i for indexes in results for i in indexes) == list(range(120))
        await logs[1].checkpoint()
        report = await logs[0].verify_log(deep=True)
        assert report.ok, (report.problems, report.unproven)
        assert report.proven_size == 120
        # Each node's cached head went stale as others wrote; the per-session chains must still be right.
        exported = 0
        for session in ("s-0", "s-1", "s-2"):
            export = await logs[1].export_session(session)
            exported += len(export.events)
            verified = verify_export(export, logs[0].verifier_key)
            assert verified.ok, verified.problems
        assert exported == 120
    finally:
        for eng in engines[1:]:
            await eng.dispose()


async def test_a_caller_that_gives_up_does_not_cancel_the_write(audit_log: AuditLog) -> None:
    waiter = asyncio.create_task(audit_log.append("session.kill", "user", "s-1", {}))
    await asyncio.sleep(0)
    waiter.cancel()
    others = await asyncio.gather(
        *(audit_log.append("relay.frame", "agent", "s-1", {"n": n}) for n in range(3))
    )
    assert sorted(r.index for r in others) == [1, 2, 3]
    assert await audit_log.size() == 4


async def test_append_many_is_atomic_and_ordered(audit_log: AuditLog) -> None:
    entries = [AuditEntry("file.push", "engineer:bob", "s-9", {"sha256": f"{n:064x}"}) for n in range(5)]
    records = await audit_log.append_many(entries)
    assert [r.index for r in records] == [0, 1, 2, 3, 4]
    chain = [json.loads(r.canonical)["session_prev"] for r in records]
    assert chain == [None, 0, 1, 2, 3]


async def test_proofs_from_the_database_verify(audit_log: AuditLog, audit_engine: AsyncEngine) -> None:
    await audit_log.append_many([AuditEntry("x.y", "a", None, {"n": n}) for n in range(37)])
    old = await audit_log.checkpoint()
    await audit_log.append_many([AuditEntry("x.y", "a", None, {"n": n}) for n in range(37, 70)])
    new = await audit_log.checkpoint()
    hashes = await leaf_hashes(audit_engine)
    assert new.checkpoint.root == root_of(hashes) and old.checkpoint.root == root_of(hashes[:37])
    for index in (0, 1, 31, 32, 36, 69):
        for size in sorted({s for s in (index + 1, 37, 64, 70) if s > index}):
            proof = await audit_log.inclusion_proof(index, size)
            verify_inclusion(index, size, hashes[index], proof, root_of(hashes[:size]))
    proof = await audit_log.consistency_proof(37, 70)
    verify_consistency(37, 70, old.checkpoint.root, new.checkpoint.root, proof)


async def test_checkpoint_is_signed_stored_and_reused(audit_log: AuditLog, signer: NoteSigner) -> None:
    empty = await audit_log.checkpoint()
    assert empty.checkpoint.size == 0
    await audit_log.append("admin.user_added", "admin:root", None, {"user": "carol"})
    first = await audit_log.checkpoint()
    assert first.note == (await audit_log.checkpoint()).note
    assert open_checkpoint(first.note, signer.verifier).checkpoint == first.checkpoint
    latest = await audit_log.latest_checkpoint()
    assert latest is not None and latest.note == first.note


@pytest.mark.parametrize(
    ("kind", "actor", "session", "data"),
    [
        ("Session Request", "a", None, {}),
        ("x", "", None, {}),
        ("x", "a", "s" * 65, {}),
        ("x", "a", None, {"v": float("nan")}),
        ("x", "a", None, {"v": 2**60}),
        ("x", "a", None, {"blob": "x" * 300_000}),
    ],
)
async def test_invalid_events_are_refused_and_nothing_is_written(
    audit_log: AuditLog, kind: str, actor: str, session: str | None, data: dict[str, object]
) -> None:
    with pytest.raises(InvalidAuditEvent):
        await audit_log.append(kind, actor, session, data)  # type: ignore[arg-type]
    assert await audit_log.size() == 0


async def test_read_only_database_raises_audit_write_error(
    audit_log: AuditLog, audit_engine: AsyncEngine, database_url: str, signer: NoteSigner
) -> None:
    await audit_log.append("auth.login", "engineer:alice", None, {})
    if audit_engine.dialect.name == "sqlite":
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        read_only = create_async_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    else:
        read_only = create_async_engine(
            database_url, connect_args={"server_settings": {"default_transaction_read_only": "on"}}
        )
    try:
        with pytest.raises(AuditWriteError) as caught:
            await AuditLog(read_only, signer).append("session.request", "engineer:alice", "s-1", {})
        assert "read" in str(caught.value).lower()
    finally:
        await read_only.dispose()
    assert await audit_log.size() == 1


async def test_unreachable_database_raises_audit_write_error(signer: NoteSigner) -> None:
    # Nothing listens on port 9: the database server is down or unreachable.
    eng = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none", connect_args={"timeout": 2})
    try:
        with pytest.raises(AuditWriteError):
            await AuditLog(eng, signer).append("auth.login", "engineer:alice", None, {})
    finally:
        await eng.dispose()


async def test_missing_tables_raise_audit_write_error(engine: AsyncEngine, signer: NoteSigner) -> None:
    # A database nobody migrated: the write fails, so the action must be refused.
    with pytest.raises(AuditWriteError):
        await AuditLog(engine, signer).append("auth.login", "engineer:alice", None, {})


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=20),
    st.one_of(st.none(), st.text(min_size=1, max_size=10)),
    st.dictionaries(st.text(max_size=6), st.integers(-1000, 1000) | st.text(max_size=6), max_size=4),
    st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_event_bytes_are_the_canonical_form_of_the_event(
    actor: str, session: str | None, data: dict[str, object], previous: int | None
) -> None:
    entry = AuditEntry("session.request", actor, session, data)  # type: ignore[arg-type]
    moment = datetime(2026, 11, 21, 22, 30, 0, 123456, tzinfo=UTC)
    expected = canonicalize(event_document(7, moment, entry, previous))
    assert event_bytes(7, moment, entry, previous) == expected
    assert event_bytes(7, moment, entry, previous, canonicalize(data)) == expected


async def test_data_changed_after_append_is_called_is_not_what_gets_written(audit_log: AuditLog) -> None:
    data: dict[str, object] = {"argv": ["ipconfig"]}
    pending = asyncio.create_task(
        audit_log.append("session.request", "engineer:alice", "s-1", data)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0)
    data["argv"] = ["format", "c:"]
    record = await pending
    assert json.loads(record.canonical)["data"] == {"argv": ["ipconfig"]}
