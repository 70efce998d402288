"""Offline check of the audit evidence a server sent at a session's end — pure code, no I/O.

The agent does not trust the server's code or share it (the agent never imports `server`), so this is
a second, independent implementation of the three checks, written from the specs:

1. the checkpoint is a C2SP signed note (c2sp.org/signed-note) whose body is a tlog-checkpoint
   (origin, size, base64 root) and which carries a valid Ed25519 signature by the log's key
   (key hash = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]);
2. the event's leaf hash SHA-256(0x00 ‖ canonical JSON), with the inclusion proof, leads to that
   root (RFC 9162 §2.1.3.2);
3. witness cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`, key ID with 0x04) by the
   listed witness keys verify over "cosignature/v1\\ntime <t>\\n" ‖ body.

`verify_evidence` returns what held and what did not; it never raises for bad input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["EvidenceReport", "key_fingerprint", "verify_evidence"]

_DASH = "\u2014 "
_LOG_ALG, _COSIGN_ALG = 0x01, 0x04


class _Bad(ValueError):
    pass


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Bad("not base64") from exc


def _parse_key(text: str, alg: int) -> tuple[str, bytes, bytes]:
    """A vkey "<name>+<hex key id>+<base64(alg ‖ key)>" → (name, key id, public key)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0] or len(parts[1]) != 8:
        raise _Bad(f"not a key: {text[:80]!r}")
    name, id_hex, encoded = parts
    raw = _b64(encoded)
    if len(raw) != 33 or raw[0] != alg:
        raise _Bad(f"not an Ed25519 key of type {alg}: {name}")
    key_id = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + raw[1:]).digest()[:4]
    if key_id.hex() != id_hex:
        raise _Bad(f"key id does not match the key: {name}")
    return name, key_id, raw[1:]


def key_fingerprint(text: str) -> str:
    """The key as the user can compare it: name and key id."""
    parts = text.strip().split("+", 2)
    return "+".join(parts[:2])


def _ed25519(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise _Bad("the event is outside the checkpoint")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != 32 or sn == 0:
            raise _Bad("bad inclusion proof")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _Bad("inclusion proof too short")
    return r


@dataclass(slots=True)
class EvidenceReport:
    ok: bool = False
    origin: str | None = None
    size: int | None = None
    index: int | None = None
    session: str | None = None
    kind: str | None = None
    log_key: str | None = None
    witnesses: list[str] = field(default_factory=list)  # names whose cosignature verified
    problems: list[str] = field(default_factory=list)


def _checkpoint(body: str) -> tuple[str, int, bytes]:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0] or not lines[1].isdigit():
        raise _Bad("the checkpoint is not origin, size and root lines")
    root = _b64(lines[2])
    if len(root) != 32:
        raise _Bad("the checkpoint root is not a SHA-256 hash")
    return lines[0], int(lines[1]), root


def _signatures(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    body, sep, block = note.partition("\n\n")
    if not sep or not block.endswith("\n"):
        raise _Bad("the checkpoint has no signatures")
    found = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH) or " " not in line[len(_DASH) :]:
            raise _Bad("a malformed signature line")
        name, encoded = line[len(_DASH) :].split(" ", 1)
        found.append((name, _b64(encoded)))
    return body + "\n", found


def verify_evidence(
    evidence: dict[str, object], log_key: str, witness_keys: Sequence[str] = ()
) -> EvidenceReport:
    """Check one evidence document (`index`, `leaf`, `proof`, `checkpoint`) against `log_key`."""
    report = EvidenceReport(log_key=key_fingerprint(log_key))
    try:
        name, key_id, public = _parse_key(log_key, _LOG_ALG)
        note, leaf, index = evidence["checkpoint"], evidence["leaf"], evidence["index"]
        proof = evidence["proof"]
        if not isinstance(note, str) or not isinstance(leaf, str) or not isinstance(index, int):
            raise _Bad("the evidence is malformed")
        if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
            raise _Bad("the evidence's proof is malformed")
        body, signatures = _signatures(note)
        report.origin, report.size, root = _checkpoint(body)
        report.index = index
        signed = [raw for who, raw in signatures if who == name and raw[:4] == key_id]
        if not signed or not all(_ed25519(public, raw[4:], body.encode()) for raw in signed):
            report.problems.append("the checkpoint is not signed by the log's key")
        path = [_b64(p) for p in proof]
        leaf_hash = hashlib.sha256(b"\x00" + leaf.encode()).digest()
        if _root_from_path(index, report.size, leaf_hash, path) != root:
            report.problems.append("the event is not in the signed log (changed or forged)")
        document = json.loads(leaf)
        if not isinstance(document, dict) or document.get("index") != index:
            report.problems.append("the event does not name its own position")
        else:
            report.session, report.kind = document.get("session"), document.get("kind")
        for text in witness_keys:
            w_name, w_id, w_public = _parse_key(text, _COSIGN_ALG)
            for who, raw in signatures:
                if who != w_name or raw[:4] != w_id or len(raw) != 76:
                    continue
                moment = int.from_bytes(raw[4:12], "big")
                message = f"cosignature/v1\ntime {moment}\n".encode() + body.encode()
                if _ed25519(w_public, raw[12:], message):
                    report.witnesses.append(w_name)
                else:
                    report.problems.append(f"the cosignature by {w_name} does not verify")
    except (_Bad, KeyError, ValueError) as exc:
        report.problems.append(str(exc) or type(exc).__name__)
    report.ok = not report.problems
    return report
