"""Audit log: append throughput on SQLite on disk, and verification of 1M events.

Targets (BRIEF §7): append ≥ 5,000 events/s, with `append` returning only once the record is durable
(commit with synchronous=FULL, i.e. fsync), and full-log verification of 1,000,000 events < 10 s.
Anchors in the same run: raw `sqlite3` INSERT of the same rows (one transaction), a single writer
committing every event on its own (what durability costs without group commit), hashlib over the
same bytes, and a raw `sqlite3` SELECT of the same rows.
Set RME_BENCH_DIR to put the databases elsewhere (default: the system temp dir), RME_BENCH_AUDIT_EVENTS
to change the 1M, RME_BENCH_AUDIT_APPENDS to change the append count.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import AuditLog, NoteSigner
from server.audit.events import encode_time
from server.audit.merkle import CompactRange, leaf_hash
from server.audit.note import Checkpoint
from server.audit.schema import create_audit_schema
from server.audit.verify_log import verify_log
from server.db.engine import open_engine

APPEND_TARGET = 5_000.0
VERIFY_TARGET_S = 10.0
WRITERS = 200


async def _open(path: Path) -> AsyncEngine:
    engine = open_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(create_audit_schema)
    return engine


def _row(n: int, moment: str) -> bytes:
    # Exactly what `event_bytes` produces for this event (members already in RFC 8785 order).
    return (
        f'{{"actor":"agent:d-{n % 500}","data":{{"bytes":{n * 7 % 65536},"frame":"result"}},"index":{n},'
        f'"kind":"relay.frame","session":null,"session_prev":null,"time":"{moment}","v":1}}'
    ).encode()


async def bench_append(directory: Path, count: int) -> None:
    engine = await _open(directory / "append.db")
    log = AuditLog(engine, NoteSigner.generate("bench/audit"))
    per_writer = count // WRITERS

    async def writer(number: int) -> None:
        for n in range(per_writer):
            await log.append("relay.frame", f"agent:d-{number}", f"s-{number}", {"n": n, "frame": "result"})

    await log.append("bench.start", "bench", None, {})
    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    elapsed = time.perf_counter() - start
    total = per_writer * WRITERS
    rate = total / elapsed
    verdict = "meets" if rate >= APPEND_TARGET else "MISSES"
    print(
        f"  append, {WRITERS} concurrent writers   {total:>9,} events {elapsed:7.2f} s {rate:10,.0f} ev/s"
        f"  ({verdict} ≥ {APPEND_TARGET:,.0f}; durable: synchronous=FULL)"
    )

    sequential = 300
    start = time.perf_counter()
    for n in range(sequential):
        await log.append("relay.frame", "agent:solo", "s-solo", {"n": n})
    elapsed = time.perf_counter() - start
    print(
        f"  append, one writer, one at a time    {sequential:>9,} events {elapsed:7.2f} s "
        f"{sequential / elapsed:10,.0f} ev/s  ({elapsed / sequential * 1000:.2f} ms per durable append)"
    )
    await log.checkpoint()
    report = await log.verify_log(deep=True)
    print(f"  log after the run verifies: {report.ok} ({report.events:,} events)")
    await engine.dispose()

    # Anchor: raw sqlite3, the same kind of rows, every one committed (fsync) on its own, then all in one.
    anchor = sqlite3.connect(directory / "anchor.db", isolation_level=None)
    anchor.execute("PRAGMA journal_mode=WAL")
    anchor.execute("PRAGMA synchronous=FULL")
    anchor.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, c BLOB, h BLOB)")
    moment = encode_time(datetime.now(UTC))
    rows = [(n, _row(n, moment), leaf_hash(_row(n, moment))) for n in range(total)]
    start = time.perf_counter()
    for row in rows[:sequential]:
        anchor.execute("INSERT INTO t VALUES (?, ?, ?)", row)
    elapsed = time.perf_counter() - start
    print(
        f"  anchor: sqlite3 commit per row       {sequential:>9,} rows   {elapsed:7.2f} s "
        f"{sequential / elapsed:10,.0f} rows/s"
    )
    start = time.perf_counter()
    anchor.execute("BEGIN")
    anchor.executemany("INSERT INTO t VALUES (?, ?, ?)", rows[sequential:])
    anchor.execute("COMMIT")
    elapsed = time.perf_counter() - start
    print(
        f"  anchor: sqlite3 one transaction      {total - sequential:>9,} rows   {elapsed:7.2f} s "
        f"{(total - sequential) / elapsed:10,.0f} rows/s"
    )
    anchor.close()


def build_big_log(path: Path, count: int, signer: NoteSigner) -> float:
    """Write `count` events (and their interior nodes and a checkpoint) with raw sqlite3; returns seconds."""
    engine_setup = sqlite3.connect(path)
    engine_setup.close()
    asyncio.run(_create(path))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    moment_dt = datetime.now(UTC)
    moment = encode_time(moment_dt)
    stamp = moment_dt.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DateTime storage format
    tree = CompactRange(record_nodes=True)
    start = time.perf_counter()
    db.execute("BEGIN")
    batch: list[tuple[int, str, str, str, None, bytes, bytes]] = []
    for n in range(count):
        canonical = _row(n, moment)
        digest = leaf_hash(canonical)
        tree.append(digest)
        batch.append((n, stamp, "relay.frame", f"agent:d-{n % 500}", None, canonical, digest))
        if len(batch) == 50_000:
            db.executemany("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
    db.executemany("INSERT INTO audit_nodes VALUES (?, ?, ?)", tree.completed)
    signed = Checkpoint("bench/audit", count, tree.root()).sign(signer)
    db.execute("INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?)", (count, tree.root(), signed.note, stamp))
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


async def _create(path: Path) -> None:
    engine = await _open(path)
    await engine.dispose()


def bench_verify(directory: Path, count: int) -> None:
    signer = NoteSigner.generate("bench/audit")
    path = directory / "verify.db"
    build = build_big_log(path, count, signer)
    print(
        f"  anchor: build with raw sqlite3       {count:>9,} events {build:7.2f} s "
        f"{count / build:10,.0f} ev/s  (JSON + leaf hash + nodes + INSERT)"
    )

    db = sqlite3.connect(path)
    start = time.perf_counter()
    contents = [bytes(row[0]) for row in db.execute("SELECT canonical FROM audit_events ORDER BY leaf_index")]
    select_s = time.perf_counter() - start
    db.close()
    print(f"  anchor: raw sqlite3 SELECT of rows   {count:>9,} rows   {select_s:7.2f} s")
    start = time.perf_counter()
    for canonical in contents:
        hashlib.sha256(b"\x00" + canonical).digest()
    leaves_s = time.perf_counter() - start
    start = time.perf_counter()
    root = CompactRange()
    for canonical in contents:
        root.append(hashlib.sha256(b"\x00" + canonical).digest())
    tree_s = time.perf_counter() - start
    del contents
    print(
        f"  anchor: hashlib leaf hashes          {count:>9,} leaves {leaves_s:7.2f} s;"
        f"  whole tree in memory {tree_s:.2f} s"
    )

    async def run(deep: bool) -> tuple[float, bool]:
        engine = open_engine(f"sqlite+aiosqlite:///{path}")
        try:
            start = time.perf_counter()
            report = await verify_log(engine, signer.verifier, deep=deep)
            return time.perf_counter() - start, report.ok and report.events == count
        finally:
            await engine.dispose()

    seconds, ok = asyncio.run(run(False))
    verdict = "meets" if seconds < VERIFY_TARGET_S else "MISSES"
    print(
        f"  verify_log (rehash + root + checkpoint) {count:>9,} events {seconds:7.2f} s  ok={ok}"
        f"  ({verdict} < {VERIFY_TARGET_S:.0f} s)"
    )
    seconds, ok = asyncio.run(run(True))
    print(f"  verify_log --deep (also columns)    {count:>9,} events {seconds:7.2f} s  ok={ok}")


def main() -> None:
    base = Path(os.environ.get("RME_BENCH_DIR") or tempfile.gettempdir())
    appends = int(os.environ.get("RME_BENCH_AUDIT_APPENDS", "20000"))
    events = int(os.environ.get("RME_BENCH_AUDIT_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="rme-bench-audit-", dir=base) as tmp:
        directory = Path(tmp)
        print(f"audit log on SQLite in {directory}")
        asyncio.run(bench_append(directory, appends))
        bench_verify(directory, events)


if __name__ == "__main__":
    main()
