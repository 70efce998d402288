"""Ed25519-signed checkpoints in the C2SP signed-note and tlog-checkpoint formats.

A checkpoint (c2sp.org/tlog-checkpoint) is a note body of three lines — origin, decimal tree size,
base64 root hash — each ending in a newline. A signed note (c2sp.org/signed-note) is that body, a
blank line, then one line per signature: "— <key name> <base64(key hash[4] || signature)>", where
the key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key) and 0x01 is the
Ed25519 signature type. The signature covers the body bytes exactly.

Keys travel as strings in the same family's format (as Go's golang.org/x/mod/sumdb/note writes them):
the verifier key "<name>+<hex key hash>+<base64(0x01 || public key)>", and on disk the signer key
"PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || 32-byte seed)>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = [
    "SIGNING_KEY_FILE",
    "Checkpoint",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "SignedCheckpoint",
    "check_key_name",
    "decode_b64",
    "open_checkpoint",
    "split_note",
]

SIGNING_KEY_FILE = "audit-signing.key"
ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "  # EM DASH, space
_MAX_SIGNATURES = 100
# Key names: non-empty, no spaces or '+' (c2sp.org/signed-note "Signatures").
_NAME_RE = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A note, checkpoint or key is malformed, or no trusted signature verifies."""


def _key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    if not _NAME_RE.match(name) or not name.isprintable():
        raise NoteError(f"bad key name {name!r}: it must be non-empty, with no spaces or '+'")


def decode_b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 note verifier key: who may sign checkpoints."""

    name: str
    key_hash: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Read "<name>+<hex key hash>+<base64(0x01 || public key)>"."""
        parts = text.strip().split("+", 2)  # base64 may itself contain '+'
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<hex key hash>+<base64 key>")
        name, hash_hex, key_b64 = parts
        check_key_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise NoteError("verifier key hash must be 8 lowercase hex digits")
        raw = decode_b64(key_b64, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key (0x01 || 32 bytes)")
        key_hash = bytes.fromhex(hash_hex)
        if key_hash != _key_hash(name, raw[1:]):
            raise NoteError("verifier key hash does not match its name and key")
        return cls(name, key_hash, raw[1:])

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def verify(self, body: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, body)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """An Ed25519 note signing key with its name (conventionally the log's origin)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, _key_hash(name, public), public)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> NoteSigner:
        """Read "PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>"."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<hex key hash>+<base64 key>")
        name, hash_hex, key_b64 = parts[2:]
        raw = decode_b64(key_b64, "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 key (0x01 || 32-byte seed)")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_hash.hex() != hash_hex:
            raise NoteError("signer key hash does not match its name and key")
        return signer

    def to_text(self) -> str:
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash.hex()}+{encoded}"

    @classmethod
    def load_or_create(cls, data_dir: Path, name: str) -> NoteSigner:
        """The signer in `data_dir/audit-signing.key`, created (mode 0600) on first use.

        The file's key name wins over `name` once it exists: renaming would orphan old checkpoints.
        """
        return cls.load_or_create_file(data_dir / SIGNING_KEY_FILE, name)

    @classmethod
    def load_or_create_file(cls, path: Path, name: str) -> NoteSigner:
        """The signer in the key file `path` (any place: see docs/audit.md), created there on first use."""
        data_dir = path.parent
        if path.exists():
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise NoteError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
            return cls.parse(path.read_text(encoding="ascii"))
        data_dir.mkdir(parents=True, exist_ok=True)
        signer = cls.generate(name)
        # O_EXCL: two processes starting at once must not overwrite each other's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(signer.to_text() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return signer

    def sign_line(self, body: bytes) -> str:
        signature = self._key.sign(body)
        encoded = base64.b64encode(self.verifier.key_hash + signature).decode()
        return f"{_SIG_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: which log (origin), how many leaves, and their Merkle root."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, signer: NoteSigner) -> SignedCheckpoint:
        body = self.body()
        return SignedCheckpoint(self, body + "\n" + signer.sign_line(body.encode()))

    @classmethod
    def parse_body(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint body is origin, size and root hash lines, each ending in a newline")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteError("checkpoint origin is empty")
        if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
            raise NoteError(f"checkpoint tree size {size_text!r} is not a decimal number")
        root = decode_b64(root_text, "checkpoint root hash")
        if len(root) != 32:
            raise NoteError("checkpoint root hash is not 32 bytes")
        # Extension lines (lines[3:-1]) are allowed by tlog-checkpoint; we neither write nor need them.
        return cls(origin, int(size_text), root)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint and its signed-note text (the exact bytes a verifier checks)."""

    checkpoint: Checkpoint
    note: str


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's body (with its final newline) and its signature lines (without theirs)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note) or "\x7f" in note:
        raise NoteError("note contains control characters")
    body, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("note has no signature block (a blank line, then signature lines)")
    lines = signatures[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError("note has too many signatures")
    return body + "\n", lines


def open_checkpoint(note: str, trusted: NoteVerifier) -> SignedCheckpoint:
    """Parse a signed checkpoint note and verify it carries a valid signature by `trusted`.

    Signatures by unknown keys are ignored (a note may be cosigned by witnesses); a line claiming the
    trusted key's name and hash whose signature fails makes the whole note invalid.
    """
    body, lines = split_note(note)
    verified = False
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError(f"malformed signature line {line!r}")
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space or not name or " " in encoded:
            raise NoteError(f"malformed signature line {line!r}")
        raw = decode_b64(encoded, "signature")
        if len(raw) < 5:
            raise NoteError("signature is too short")
        if name != trusted.name or raw[:4] != trusted.key_hash:
            continue
        if not trusted.verify(body.encode(), raw[4:]):
            raise NoteError(f"signature by {name} does not verify")
        verified = True
    if not verified:
        raise NoteError(f"note is not signed by the trusted key {trusted.name}+{trusted.key_hash.hex()}")
    return SignedCheckpoint(Checkpoint.parse_body(body), note)
