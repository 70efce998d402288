"""Checkpoints made by the running server, without anyone asking: the audit keeper and session evidence.

- `AuditKeeper` wakes every `audit_checkpoint_interval` seconds (60 by default): it writes the
  anonymous-failure summary, then, if the log grew since the newest checkpoint, signs one and has
  the witness cosign it. At shutdown it does the same once more. Several nodes may each run one:
  a checkpoint of an existing size is reused, and the witness orders the submissions.
- `session_evidence(audit, session_id, link)` is called by the relay where a session finishes: in
  the background (the kill switch does not wait for it) it signs a checkpoint covering the session's
  last event, has it cosigned, and sends the agent an `audit.evidence` message with that event, its
  inclusion proof and the checkpoint — the user's own copy, which the operator cannot take back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Protocol

from protocol.messages import AuditEvidence, AuditEvidenceBody, Envelope
from server.audit.events import AuditError
from server.audit.log import AuditLog
from server.audit.merkle import ProofError
from server.audit.note import SignedCheckpoint

__all__ = ["AuditKeeper", "EvidenceLink", "make_evidence", "session_evidence"]

log = logging.getLogger("rme.audit.keeper")
FAILURE_SUMMARY_S = 60.0  # how often the failure counts are written when checkpoints are not timed
_tasks: set[asyncio.Task[None]] = set()  # evidence in flight (a task needs a reference to live)


class AuditKeeper:
    def __init__(self, audit: AuditLog, interval: float) -> None:
        self.audit = audit
        self.interval = interval  # 0: no timed checkpoints (session ends and the CLI still make them)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-keeper")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        else:
            await self.tick(final=True)
        for task in list(_tasks):  # evidence being made for sessions that just ended
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5.0)

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval or FAILURE_SUMMARY_S)
            await self.tick(final=self._stop.is_set())

    async def tick(self, *, final: bool = False) -> SignedCheckpoint | None:
        """Summarise failures; sign and witness a checkpoint if there are new events (always when
        `final`, else only with a timer interval set)."""
        try:
            await self.audit.failures.flush()
            if not self.interval and not final:
                return None
            latest = await self.audit.latest_checkpoint()
            size = await self.audit.size()
            if latest is not None and latest.checkpoint.size >= size:
                return None
            signed = await self.audit.checkpoint()
            if self.audit.witness is not None:
                await self.audit.witness.cosign(self.audit, signed)
            return signed
        except AuditError:
            log.exception("periodic checkpoint failed")
            return None


class EvidenceLink(Protocol):
    """Where the evidence goes: the agent's connection."""

    closed: bool

    async def send(self, message: Envelope) -> None: ...


async def make_evidence(audit: AuditLog, session_id: str) -> AuditEvidence | None:
    """A fresh (witnessed, if a witness is set) checkpoint proving the session's last event."""
    last = await audit.last_event_of(session_id)
    if last is None:
        return None
    index, canonical = last
    signed = await audit.checkpoint()
    size = signed.checkpoint.size
    if audit.witness is not None:
        await audit.witness.cosign(audit, signed)
    note = signed.note + "".join(await audit.cosignatures(size))
    proof = await audit.inclusion_proof(index, size)
    witness_keys = [str(audit.witness.key)] if audit.witness is not None else []
    return AuditEvidence(
        session=session_id,
        body=AuditEvidenceBody(
            index=index,
            leaf=canonical.decode("utf-8"),
            proof=[base64.b64encode(p).decode() for p in proof],
            checkpoint=note,
            log_key=audit.verifier_key,
            witness_keys=witness_keys,
        ),
    )


async def _send_evidence(audit: AuditLog, session_id: str, link: EvidenceLink) -> None:
    try:
        evidence = await make_evidence(audit, session_id)
    except (AuditError, ProofError, ValueError):
        log.exception("could not make the session's audit evidence", extra={"session": session_id})
        return
    if evidence is not None and not link.closed:
        await link.send(evidence)


def session_evidence(audit: object, session_id: str, link: EvidenceLink) -> None:
    """Send the agent its proof of the session's audit record, in the background. `audit` is the
    server's audit sink; anything but an `AuditLog` (a test double) has no proofs to give."""
    if not isinstance(audit, AuditLog) or link.closed:
        return
    task = asyncio.get_running_loop().create_task(
        _send_evidence(audit, session_id, link), name=f"audit-evidence-{session_id}"
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
