"""Full-log verification: rebuild the whole tree from the table and compare with signed checkpoints.

This is the check that does not rely on the database's triggers. Someone able to drop the triggers
can edit, delete or insert rows, but cannot re-sign checkpoints without the signing key, and every
checkpoint ever issued fixes the root of its prefix of the log. So: stream every event in index
order, re-hash its canonical bytes, feed the compact range, and at each checkpointed size compare
the recomputed root with the signed one. Memory stays O(log n); the cost is one SHA-256 per leaf and
per interior node.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit.events import AuditIntegrityError
from server.audit.merkle import CompactRange, leaf_hash, perfect_subtrees
from server.audit.note import NoteError, NoteVerifier, open_checkpoint
from server.audit.schema import audit_checkpoints, audit_events
from server.audit.store import fetch_nodes, read_transaction

__all__ = ["LogVerificationReport", "verify_log"]

_PARTITION = 20_000
_MAX_PROBLEMS = 50


@dataclass(slots=True)
class LogVerificationReport:
    events: int = 0
    checkpoints: int = 0
    latest_checkpoint_size: int | None = None
    root: bytes | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        if self.ok:
            root = base64.b64encode(self.root or b"").decode()
            return (
                f"OK: {self.events} events, root {root}; {self.checkpoints} signed checkpoints match "
                f"(latest at size {self.latest_checkpoint_size})"
            )
        return f"FAILED: {len(self.problems)} problem(s) in {self.events} events"


async def verify_log(
    engine: AsyncEngine, trusted: NoteVerifier, *, deep: bool = False
) -> LogVerificationReport:
    """Verify every event and checkpoint in the database. `deep` also checks the query columns."""
    report = LogVerificationReport()
    async with read_transaction(engine) as conn:
        expected_roots: dict[int, bytes] = {}
        rows = (
            await conn.execute(
                sa.select(
                    audit_checkpoints.c.tree_size, audit_checkpoints.c.root_hash, audit_checkpoints.c.note
                )
            )
        ).all()
        for size, root, note in rows:
            try:
                signed = open_checkpoint(note, trusted)
            except NoteError as exc:
                report.add(f"checkpoint at size {size}: {exc}")
                continue
            if signed.checkpoint.size != size or signed.checkpoint.root != bytes(root):
                report.add(f"checkpoint at size {size}: stored columns differ from the signed note")
            expected_roots[signed.checkpoint.size] = signed.checkpoint.root
            report.checkpoints += 1
        if expected_roots:
            report.latest_checkpoint_size = max(expected_roots)

        columns = [audit_events.c.leaf_index, audit_events.c.canonical, audit_events.c.leaf_hash]
        if deep:
            columns += [
                audit_events.c.time,
                audit_events.c.kind,
                audit_events.c.actor,
                audit_events.c.session_id,
            ]
        query = sa.select(*columns).order_by(audit_events.c.leaf_index)
        tree = CompactRange()
        if 0 in expected_roots:
            _compare_root(report, tree, expected_roots)
        result = await conn.stream(query.execution_options(yield_per=_PARTITION))
        async for partition in result.partitions(_PARTITION):
            for row in partition:
                index, canonical, stored_hash = row[0], bytes(row[1]), bytes(row[2])
                if index != tree.size:
                    report.add(f"leaf {tree.size} is missing (next row is leaf {index})")
                    tree.size = index  # carry on so later checks still report sensibly
                digest = leaf_hash(canonical)
                if digest != stored_hash:
                    report.add(f"leaf {index}: stored leaf hash does not match its content")
                if deep:
                    _check_columns(report, index, canonical, row)
                tree.append(digest)
                if tree.size in expected_roots:
                    _compare_root(report, tree, expected_roots)
        report.events = tree.size
        report.root = tree.root()
        beyond = sorted(size for size in expected_roots if size > tree.size)
        if beyond:
            report.add(f"a checkpoint covers {beyond[-1]} leaves but only {tree.size} remain (rows deleted)")
        # Appends continue from the stored frontier nodes; they must match the recomputed tree.
        try:
            nodes = perfect_subtrees(0, tree.size)
            found = await fetch_nodes(conn, nodes)
            if [found[node] for node in nodes] != tree.frontier():
                report.add("stored interior nodes at the tree's edge do not match the events")
        except AuditIntegrityError as exc:
            report.add(str(exc))
    return report


def _compare_root(report: LogVerificationReport, tree: CompactRange, expected: dict[int, bytes]) -> None:
    if tree.root() != expected[tree.size]:
        report.add(f"the first {tree.size} events do not match the signed checkpoint of that size")


def _check_columns(report: LogVerificationReport, index: int, canonical: bytes, row: Sequence[Any]) -> None:
    try:
        document = json.loads(canonical)
    except ValueError:
        report.add(f"leaf {index}: content is not JSON")
        return
    moment = row[3]
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    same = (
        document.get("index") == index
        and isinstance(document.get("time"), str)
        and datetime.fromisoformat(document["time"]) == moment
        and document.get("kind") == row[4]
        and document.get("actor") == row[5]
        and document.get("session") == row[6]
    )
    if not same:
        report.add(f"leaf {index}: query columns differ from the hashed event")
