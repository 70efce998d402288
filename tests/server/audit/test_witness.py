"""The witness's rules (C2SP tlog-witness add-checkpoint), on real logs and a real state directory."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from server.audit import AuditLog, NoteSigner
from server.audit.cosign import CosignerKey, find_cosignatures
from server.audit.note import Checkpoint, SignedCheckpoint
from server.audit.witness import Witness


def request(old: int, proof: list[bytes], note: str) -> bytes:
    lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
    return f"old {old}\n{lines}\n{note}".encode()


async def grow(log: AuditLog, count: int) -> SignedCheckpoint:
    for n in range(count):
        await log.append("session.request", "engineer:alice", "s-1", {"n": n})
    return await log.checkpoint()


async def test_cosigns_a_consistent_history_and_remembers_it(
    audit_log: AuditLog, signer: NoteSigner, tmp_path: Path
) -> None:
    key = CosignerKey.generate("w1")
    witness = Witness(tmp_path, key, [signer.verifier])
    first = await grow(audit_log, 5)
    answer = await witness.add_checkpoint(request(0, [], first.note))
    assert answer.status == 200, answer.text
    assert find_cosignatures(first.note + answer.text, [key.verifier])
    second = await grow(audit_log, 6)
    proof = await audit_log.consistency_proof(5, 11)
    assert (await witness.add_checkpoint(request(5, proof, second.note))).status == 200
    # A restarted witness remembers: old size 5 is now a conflict, and it names 11.
    again = Witness(tmp_path, key, [signer.verifier])
    answer = await again.add_checkpoint(request(5, proof, second.note))
    assert (answer.status, answer.text, answer.content_type) == (409, "11\n", "text/x.tlog.size")
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "state.json").read_text())["rme.test/audit"]["size"] == 11


async def test_refuses_a_rewritten_history_signed_with_the_same_key(
    audit_log: AuditLog, signer: NoteSigner, tmp_path: Path
) -> None:
    witness = Witness(tmp_path, CosignerKey.generate("w1"), [signer.verifier])
    honest = await grow(audit_log, 8)
    assert (await witness.add_checkpoint(request(0, [], honest.note))).status == 200
    # The key holder builds another history of 12 events and signs it with the very same key.
    forged_root = bytes(32)
    forged = Checkpoint(signer.name, 12, forged_root).sign(signer)
    proof = await audit_log.consistency_proof(4, 8)  # any hashes: no proof can join the two
    answer = await witness.add_checkpoint(request(8, proof, forged.note))
    assert answer.status == 422
    # Same size, another root: a conflict. Smaller than what it saw: a conflict naming its size.
    same_size = Checkpoint(signer.name, 8, forged_root).sign(signer)
    assert (await witness.add_checkpoint(request(8, [], same_size.note))).status == 409
    shorter = Checkpoint(signer.name, 3, forged_root).sign(signer)
    assert (await witness.add_checkpoint(request(0, [], shorter.note))).text == "8\n"
    refused = (tmp_path / "refused.jsonl").read_text().splitlines()
    assert len(refused) == 2 and "12" in json.loads(refused[0])["note"]  # kept as evidence


async def test_unknown_logs_bad_signatures_and_garbage(signer: NoteSigner, tmp_path: Path) -> None:
    witness = Witness(tmp_path, CosignerKey.generate("w1"), [signer.verifier])
    stranger = Checkpoint("someone-else", 1, bytes(32)).sign(NoteSigner.generate("someone-else"))
    assert (await witness.add_checkpoint(request(0, [], stranger.note))).status == 404
    impostor = Checkpoint(signer.name, 1, bytes(32)).sign(NoteSigner.generate(signer.name))
    assert (await witness.add_checkpoint(request(0, [], impostor.note))).status == 403
    for body in (b"", b"old x\n\n", b"old 1\nnot-base64!\n\nx", "old 0\n\n\xff".encode("latin-1")):
        assert (await witness.add_checkpoint(body)).status == 400
    real = Checkpoint(signer.name, 1, bytes(32)).sign(signer)
    assert (await witness.add_checkpoint(request(2, [], real.note))).status == 400  # old > size
    assert witness.latest(signer.name).status == 404
