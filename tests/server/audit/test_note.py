"""C2SP signed notes and checkpoints: format, key strings, forged and wrong-key signatures."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from server.audit.note import (
    SIGNING_KEY_FILE,
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
)

ROOT = hashlib.sha256(b"root").digest()


def test_checkpoint_note_has_the_c2sp_layout() -> None:
    signer = NoteSigner.generate("example.com/log")
    signed = Checkpoint("example.com/log", 42, ROOT).sign(signer)
    body, blank, signature = signed.note.partition("\n\n")
    assert blank and body == f"example.com/log\n42\n{base64.b64encode(ROOT).decode()}"
    name, encoded = signature.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(encoded)
    public = signer.verifier.public_key
    # Key hash = SHA-256(name || 0x0A || 0x01 || public key)[:4]; then a 64-byte Ed25519 signature.
    assert name == "example.com/log"
    assert raw[:4] == hashlib.sha256(b"example.com/log\n\x01" + public).digest()[:4]
    assert len(raw) == 68
    assert open_checkpoint(signed.note, signer.verifier).checkpoint == Checkpoint("example.com/log", 42, ROOT)


def test_verifier_key_string_round_trips() -> None:
    signer = NoteSigner.generate("rme.example/audit")
    text = str(signer.verifier)
    name, key_hash, key = text.split("+", 2)
    assert name == "rme.example/audit" and len(key_hash) == 8
    assert base64.b64decode(key)[0] == 1
    assert NoteVerifier.parse(text) == signer.verifier
    assert NoteSigner.parse(signer.to_text()).verifier == signer.verifier


def test_verifier_key_with_wrong_hash_is_rejected() -> None:
    text = str(NoteSigner.generate("log").verifier)
    name, _, key = text.split("+", 2)
    with pytest.raises(NoteError):
        NoteVerifier.parse(f"{name}+00000000+{key}")


def test_signature_by_another_key_is_rejected() -> None:
    signed = Checkpoint("log", 1, ROOT).sign(NoteSigner.generate("log"))
    with pytest.raises(NoteError, match="not signed by the trusted key"):
        open_checkpoint(signed.note, NoteSigner.generate("log").verifier)


def test_forged_signature_with_the_right_key_hash_is_rejected() -> None:
    signer = NoteSigner.generate("log")
    signed = Checkpoint("log", 1, ROOT).sign(signer)
    body, _, line = signed.note.partition("\n\n")
    raw = bytearray(base64.b64decode(line.rstrip("\n").split(" ")[-1]))
    raw[10] ^= 0x01
    forged = f"{body}\n\n\u2014 log {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(forged, signer.verifier)


def test_changed_body_is_rejected() -> None:
    signer = NoteSigner.generate("log")
    signed = Checkpoint("log", 1, ROOT).sign(signer)
    with pytest.raises(NoteError):
        open_checkpoint(signed.note.replace("\n1\n", "\n2\n", 1), signer.verifier)


def test_unknown_cosignatures_are_ignored() -> None:
    signer, witness = NoteSigner.generate("log"), NoteSigner.generate("witness")
    checkpoint = Checkpoint("log", 7, ROOT)
    note = checkpoint.sign(signer).note + witness.sign_line(checkpoint.body().encode())
    assert open_checkpoint(note, signer.verifier).checkpoint.size == 7
    assert open_checkpoint(note, witness.verifier).checkpoint.size == 7


@pytest.mark.parametrize(
    "note",
    ["", "log\n1\nroot\n", "log\n01\n{root}\n\n{sig}", "log\nx\n{root}\n\n{sig}", "log\n1\nAAAA\n\n{sig}"],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    signer = NoteSigner.generate("log")
    root = base64.b64encode(ROOT).decode()
    body = note.split("\n\n")[0].replace("{root}", root) + "\n"
    text = note.replace("{root}", root).replace("{sig}", signer.sign_line(body.encode()))
    with pytest.raises(NoteError):
        open_checkpoint(text, signer.verifier)


def test_signing_key_is_created_private_and_reloaded(tmp_path: Path) -> None:
    first = NoteSigner.load_or_create(tmp_path, "rme.example/audit")
    path = tmp_path / SIGNING_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+rme.example/audit+")
    again = NoteSigner.load_or_create(tmp_path, "another-name")
    assert again.verifier == first.verifier


def test_signing_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    NoteSigner.load_or_create(tmp_path, "log")
    os.chmod(tmp_path / SIGNING_KEY_FILE, 0o644)
    with pytest.raises(NoteError, match="chmod 600"):
        NoteSigner.load_or_create(tmp_path, "log")
