"""Full-log verification: rebuild the whole tree from the table and compare with signed checkpoints.

This is the check that does not rely on the database's triggers. Someone able to drop the triggers
can edit, delete or insert rows, but cannot re-sign checkpoints without the signing key, and every
checkpoint ever issued fixes the root of its prefix of the log. So: stream every event in index
order, re-hash its canonical bytes, feed the compact range, and at each checkpointed size compare
the recomputed root with the signed one. Memory stays O(log n); the cost is one SHA-256 per leaf and
per interior node.

What is *proven* is reported as a range: a checkpoint of size n signed by the trusted key fixes
events [0, n); events after the newest checkpoint are not proven by anything yet, and the report
says so (and is not OK). Someone holding the signing key could re-sign a rewritten history, so
witness cosignatures (`cosign.py`) are checked too: those stored beside the checkpoints, and the
latest checkpoint a witness itself remembers (`external`, fetched by the caller), which survives
even a database rebuilt from scratch.
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

from server.audit.cosign import WitnessVerifier, find_cosignatures
from server.audit.events import AuditIntegrityError
from server.audit.merkle import CompactRange, leaf_hash, perfect_subtrees
from server.audit.note import NoteError, NoteVerifier, open_checkpoint
from server.audit.schema import audit_checkpoints, audit_cosignatures, audit_events
from server.audit.store import fetch_nodes, read_transaction

__all__ = ["ExternalCheckpoint", "LogVerificationReport", "verify_log"]

_PARTITION = 20_000
_MAX_PROBLEMS = 50


@dataclass(frozen=True, slots=True)
class ExternalCheckpoint:
    """A checkpoint kept outside the database (a witness's latest, a user's evidence file)."""

    source: str  # named in the report, e.g. "witness w1.example"
    note: str  # signed by the log, possibly cosigned


@dataclass(slots=True)
class LogVerificationReport:
    events: int = 0
    checkpoints: int = 0
    latest_checkpoint_size: int | None = None
    # [0, proven_size) is fixed by a checkpoint signed with the trusted key that matches the events.
    proven_size: int = 0
    # Per trusted witness: the largest size it cosigned whose root matches the events.
    witnessed: dict[str, int] = field(default_factory=dict)
    require_witness: bool = False  # witness keys were given: unwitnessed events are unproven
    signer: str | None = None
    root: bytes | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def witnessed_size(self) -> int:
        return max(self.witnessed.values(), default=0)

    @property
    def unproven(self) -> list[str]:
        """Why some events are not (yet) proven — not tampering, but not evidence either."""
        gaps: list[str] = []
        if self.proven_size < self.events:
            if self.latest_checkpoint_size is None:
                gaps.append(f"no signed checkpoint: none of the {self.events} events is proven")
            else:
                gaps.append(
                    f"events {self.proven_size}–{self.events - 1} ({self.events - self.proven_size}) "
                    "come after the newest checkpoint: not proven yet"
                )
        if self.require_witness and self.witnessed_size < self.events:
            gaps.append(
                f"events {self.witnessed_size}–{self.events - 1} "
                f"({self.events - self.witnessed_size}) are not cosigned by a trusted witness"
            )
        return gaps

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unproven

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        if self.problems:
            return f"FAILED: {len(self.problems)} problem(s) in {self.events} events"
        root = base64.b64encode(self.root or b"").decode()
        if self.proven_size:
            proven = (
                f"events 0–{self.proven_size - 1} proven by {self.checkpoints} signed checkpoint(s) "
                f"(latest at size {self.latest_checkpoint_size}, key {self.signer})"
            )
        else:
            proven = "no event proven by a signed checkpoint"
        witnessed = "; ".join(
            f"witness {name} cosigned events 0–{size - 1}" if size else f"witness {name} cosigned nothing"
            for name, size in sorted(self.witnessed.items())
        )
        state = "OK" if self.ok else "UNPROVEN"
        text = f"{state}: {self.events} events, root {root}; {proven}"
        return f"{text}; {witnessed}" if witnessed else text


async def verify_log(
    engine: AsyncEngine,
    trusted: NoteVerifier,
    *,
    deep: bool = False,
    witnesses: Sequence[WitnessVerifier] = (),
    external: Sequence[ExternalCheckpoint] = (),
) -> LogVerificationReport:
    """Verify every event and checkpoint in the database. `deep` also checks the query columns.

    `witnesses`: cosigner keys to trust; when given, events no trusted witness cosigned are reported
    unproven. `external`: checkpoints kept elsewhere that the events must also match.
    """
    report = LogVerificationReport(require_witness=bool(witnesses), signer=str(trusted))
    report.witnessed = {witness.name: 0 for witness in witnesses}
    async with read_transaction(engine) as conn:
        # size -> [(root, what signed it, witnesses that cosigned it)]
        expected: dict[int, list[tuple[bytes, str, list[str]]]] = {}
        notes: dict[int, str] = {}
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
            expected.setdefault(signed.checkpoint.size, []).append(
                (signed.checkpoint.root, "the signed checkpoint of that size", [])
            )
            notes[signed.checkpoint.size] = note
            report.checkpoints += 1
        if expected:
            report.latest_checkpoint_size = max(expected)
        await _stored_cosignatures(conn, report, witnesses, notes, expected)
        for item in external:
            _external(report, trusted, witnesses, item, expected)

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
        if 0 in expected:
            _compare_root(report, tree, expected)
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
                if tree.size in expected:
                    _compare_root(report, tree, expected)
        report.events = tree.size
        report.root = tree.root()
        for size, claims in sorted(expected.items()):
            if size > tree.size:
                for _, source, _ in claims:
                    report.add(f"{source} covers {size} events but only {tree.size} remain (events deleted)")
        # Appends continue from the stored frontier nodes; they must match the recomputed tree.
        try:
            nodes = perfect_subtrees(0, tree.size)
            found = await fetch_nodes(conn, nodes)
            if [found[node] for node in nodes] != tree.frontier():
                report.add("stored interior nodes at the tree's edge do not match the events")
        except AuditIntegrityError as exc:
            report.add(str(exc))
    return report


async def _stored_cosignatures(
    conn: Any,
    report: LogVerificationReport,
    witnesses: Sequence[WitnessVerifier],
    notes: dict[int, str],
    expected: dict[int, list[tuple[bytes, str, list[str]]]],
) -> None:
    """Attach each stored cosignature by a trusted witness to its checkpoint (checked when the tree is)."""
    if not witnesses:
        return
    trusted_names = {witness.name for witness in witnesses}
    rows = (
        await conn.execute(
            sa.select(audit_cosignatures.c.tree_size, audit_cosignatures.c.witness, audit_cosignatures.c.line)
        )
    ).all()
    for size, name, line in rows:
        if name not in trusted_names:
            continue
        note = notes.get(int(size))
        if note is None:
            report.add(f"witness {name} cosigned size {size}, but no valid checkpoint of that size is stored")
            continue
        try:
            found = find_cosignatures(note + line, list(witnesses))
        except NoteError as exc:
            report.add(
                f"checkpoint at size {size}: {exc} — the checkpoint is not the one the witness saw "
                "(re-signed after a rewrite?)"
            )
            continue
        for cosignature in found:
            expected[int(size)][0][2].append(cosignature.witness)


def _external(
    report: LogVerificationReport,
    trusted: NoteVerifier,
    witnesses: Sequence[WitnessVerifier],
    item: ExternalCheckpoint,
    expected: dict[int, list[tuple[bytes, str, list[str]]]],
) -> None:
    try:
        signed = open_checkpoint(item.note, trusted)
        cosigners = [c.witness for c in find_cosignatures(item.note, list(witnesses))]
    except NoteError as exc:
        report.add(f"{item.source}: {exc}")
        return
    checkpoint = signed.checkpoint
    expected.setdefault(checkpoint.size, []).append(
        (checkpoint.root, f"the checkpoint {item.source} holds", cosigners)
    )


def _compare_root(
    report: LogVerificationReport, tree: CompactRange, expected: dict[int, list[tuple[bytes, str, list[str]]]]
) -> None:
    root = tree.root()
    for claimed, source, cosigners in expected[tree.size]:
        if root != claimed:
            report.add(f"the first {tree.size} events do not match {source}")
            continue
        if source == "the signed checkpoint of that size":
            report.proven_size = max(report.proven_size, tree.size)
        for name in cosigners:
            report.witnessed[name] = max(report.witnessed.get(name, 0), tree.size)


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
