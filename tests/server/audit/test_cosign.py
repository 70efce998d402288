"""Witness cosignatures in the C2SP `cosignature/v1` format."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from server.audit.cosign import CosignerKey, WitnessVerifier, cosigned_message, find_cosignatures
from server.audit.note import Checkpoint, NoteError, NoteSigner

ROOT = bytes(range(32))


def test_a_cosignature_verifies_and_names_its_time() -> None:
    log, witness = NoteSigner.generate("rme-audit"), CosignerKey.generate("witness.example/w1")
    signed = Checkpoint("rme-audit", 5, ROOT).sign(log)
    line = witness.cosign(Checkpoint("rme-audit", 5, ROOT).body(), timestamp=1_700_000_000)
    (found,) = find_cosignatures(signed.note + line, [witness.verifier])
    assert (found.witness, found.timestamp) == ("witness.example/w1", 1_700_000_000)
    raw = base64.b64decode(line.split(" ")[-1])
    # key ID = SHA-256(name || "\n" || 0x04 || public key)[:4]; then u64 time, then the signature
    expected_id = hashlib.sha256(b"witness.example/w1\n\x04" + witness.verifier.public_key).digest()[:4]
    assert raw[:4] == expected_id and int.from_bytes(raw[4:12], "big") == 1_700_000_000
    assert cosigned_message("a\n1\nx\n", 7) == b"cosignature/v1\ntime 7\na\n1\nx\n"


def test_keys_round_trip_and_are_not_log_keys() -> None:
    witness = CosignerKey.generate("w1")
    assert WitnessVerifier.parse(str(witness.verifier)) == witness.verifier
    assert CosignerKey.parse(witness.to_text()).verifier == witness.verifier
    with pytest.raises(NoteError, match="cosignature/v1"):
        WitnessVerifier.parse(str(NoteSigner.generate("w1").verifier))  # a 0x01 log key


def test_a_cosignature_over_another_root_is_a_forgery() -> None:
    log, witness = NoteSigner.generate("rme-audit"), CosignerKey.generate("w1")
    line = witness.cosign(Checkpoint("rme-audit", 5, ROOT).body())
    other = Checkpoint("rme-audit", 5, bytes(32)).sign(log)
    with pytest.raises(NoteError, match="does not verify"):
        find_cosignatures(other.note + line, [witness.verifier])
    # Lines by keys nobody asked about are ignored.
    assert find_cosignatures(other.note + line, [CosignerKey.generate("w2").verifier]) == []


def test_the_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "w" / "witness.key"
    first = CosignerKey.load_or_create(path, "w1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert CosignerKey.load_or_create(path, "ignored").verifier == first.verifier
    path.chmod(0o644)
    with pytest.raises(NoteError, match="readable by others"):
        CosignerKey.load_or_create(path, "w1")
