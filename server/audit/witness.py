"""`rme-server audit witness`: a C2SP tlog-witness that cosigns the audit log's checkpoints.

A separate process, with its own key and its own state directory (ideally on another machine, run
by someone other than the server's operator). For each log it knows (origin → the log's verifier
key) it remembers the latest checkpoint it cosigned, and cosigns a new one only if

1. the log's signature verifies with the configured key (else 403; unknown origin: 404),
2. the request's old size is the size it remembers (else 409, answering its size), and
3. the RFC 9162 consistency proof from that size to the new one verifies (else 422);
   at an equal size the roots must be equal (else 409).

So whoever holds the server's signing key still cannot get a rewritten or shortened history
cosigned: the witness has already cosigned a root the rewrite cannot be consistent with. Refused
requests that carry a valid log signature are kept (`refused.jsonl`) as evidence of misbehaviour.

Besides the standard `POST /add-checkpoint`, `GET /latest?origin=…` returns the newest checkpoint it
cosigned (the log's note plus its cosignature) so a verifier can check the database against it; the
C2SP spec leaves monitor retrieval open.

The check and the state update happen under one lock and the state is written (fsync, atomic
rename) before the answer, so two racing submissions can never roll the state back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from server.audit.cosign import CosignerKey
from server.audit.merkle import ProofError, verify_consistency
from server.audit.note import Checkpoint, NoteError, NoteVerifier, open_checkpoint, split_note

__all__ = ["MAX_REQUEST", "WITNESS_KEY_FILE", "Answer", "Witness", "parse_add_checkpoint"]

WITNESS_KEY_FILE = "witness.key"
STATE_FILE = "state.json"
REFUSED_FILE = "refused.jsonl"
MAX_REQUEST = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Latest:
    size: int
    root: bytes
    note: str  # the log's note as submitted, plus our cosignature


class BadRequest(ValueError):
    pass


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], str]:
    """Split an add-checkpoint body into (old size, consistency proof, checkpoint note)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise BadRequest("no blank line between the proof and the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not _decimal(first[4:]):
        raise BadRequest("the first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest("too many consistency proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("a proof line is not base64") from exc
        if len(digest) != 32:
            raise BadRequest("a proof line is not a 32-byte hash")
        proof.append(digest)
    return int(first[4:]), proof, note


def _decimal(text: str) -> bool:
    return text == "0" or (text[:1] in "123456789" and text.isdigit() and text.isascii() and text != "")


class Witness:
    """The witness's logic and state (no HTTP): `add_checkpoint` answers one request."""

    def __init__(self, state_dir: Path, key: CosignerKey, logs: list[NoteVerifier]) -> None:
        self.state_dir = state_dir
        self.key = key
        # A log is named by its key's name, which is also its checkpoints' origin line.
        self.logs = {log.name: log for log in logs}
        self._lock = asyncio.Lock()
        self._latest: dict[str, _Latest] = self._load()

    def _load(self) -> dict[str, _Latest]:
        path = self.state_dir / STATE_FILE
        if not path.exists():
            return {}
        document = json.loads(path.read_text(encoding="utf-8"))
        return {
            origin: _Latest(int(item["size"]), base64.b64decode(item["root"]), str(item["note"]))
            for origin, item in document.items()
        }

    def _save(self) -> None:
        document = {
            origin: {"size": latest.size, "root": base64.b64encode(latest.root).decode(), "note": latest.note}
            for origin, latest in self._latest.items()
        }
        _write_durably(self.state_dir / STATE_FILE, json.dumps(document, indent=1).encode())

    def _keep_refused(self, reason: str, old: int, proof: list[bytes], note: str) -> None:
        entry = {
            "time": int(time.time()),
            "reason": reason,
            "old": old,
            "proof": [base64.b64encode(p).decode() for p in proof],
            "note": note,
        }
        path = self.state_dir / REFUSED_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def latest(self, origin: str) -> Answer:
        latest = self._latest.get(origin)
        if latest is None:
            return Answer(404, "no checkpoint of that log cosigned yet\n")
        return Answer(200, latest.note)

    async def add_checkpoint(self, body: bytes) -> Answer:
        try:
            old, proof, note = parse_add_checkpoint(body)
            note_body, _ = split_note(note)
            checkpoint = Checkpoint.parse_body(note_body)
        except (BadRequest, NoteError) as exc:
            return Answer(400, f"{exc}\n")
        log_key = self.logs.get(checkpoint.origin)
        if log_key is None:
            return Answer(404, "unknown log origin\n")
        try:
            open_checkpoint(note, log_key)
        except NoteError as exc:
            return Answer(403, f"{exc}\n")
        if old > checkpoint.size:
            return Answer(400, "old size is larger than the checkpoint's\n")
        async with self._lock:
            latest = self._latest.get(checkpoint.origin)
            known = latest.size if latest is not None else 0
            if old != known:
                return Answer(409, f"{known}\n", SIZE_TYPE)
            if latest is not None:
                try:
                    verify_consistency(latest.size, checkpoint.size, latest.root, checkpoint.root, proof)
                except ProofError as exc:
                    self._keep_refused(str(exc), old, proof, note)
                    status = 409 if latest.size == checkpoint.size else 422
                    return Answer(status, f"not consistent with the checkpoint I cosigned: {exc}\n")
            elif proof:
                return Answer(422, "the proof must be empty when the old size is 0\n")
            line = self.key.cosign(note_body)
            kept = note_body + "\n" + _log_signature_lines(note, log_key) + line
            self._latest[checkpoint.origin] = _Latest(checkpoint.size, checkpoint.root, kept)
            self._save()  # before answering: a cosignature is never given for a state not kept
        return Answer(200, line)


def _log_signature_lines(note: str, log_key: NoteVerifier) -> str:
    """The log's own signature line(s) from a submitted note (others' cosignatures are dropped)."""
    _, lines = split_note(note)
    return "".join(line + "\n" for line in lines if line.startswith(f"\u2014 {log_key.name} "))


def _write_durably(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
