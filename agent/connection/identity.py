"""The device's identity: an Ed25519 key made at enrollment, and the ids the server gave it.

`device.key` (PKCS#8 PEM, mode 0600) never leaves the PC: the server stores only the public key, and
every connection proves possession by signing `protocol.auth.auth_transcript` — a fresh server nonce bound
to the TLS certificate the agent actually saw, so a relayed or replayed signature is worthless.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.auth import auth_transcript, b64url

KEY_FILE = "device.key"
ID_FILE = "device.json"


@dataclass(frozen=True)
class Identity:
    device_id: str
    customer_id: str
    key: Ed25519PrivateKey

    def sign(self, nonce: str, channel_binding: bytes) -> str:
        return b64url(self.key.sign(auth_transcript(nonce, channel_binding, self.device_id)))


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url(raw)


def _write_private(path: Path, data: bytes) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


class IdentityStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def pending_key(self) -> Ed25519PrivateKey:
        """The key to enroll with: made once and kept, so a retried enrollment reuses it."""
        path = self.data_dir / KEY_FILE
        if path.exists():
            return self._load_key(path)
        key = Ed25519PrivateKey.generate()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(path, pem)
        return key

    @staticmethod
    def _load_key(path: Path) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        return key

    def save(self, device_id: str, customer_id: str) -> None:
        doc = {"device_id": device_id, "customer_id": customer_id}
        _write_private(self.data_dir / ID_FILE, json.dumps(doc).encode())

    def load(self) -> Identity | None:
        try:
            doc = json.loads((self.data_dir / ID_FILE).read_text("utf-8"))
            key = self._load_key(self.data_dir / KEY_FILE)
        except (OSError, ValueError):
            return None
        return Identity(str(doc["device_id"]), str(doc["customer_id"]), key)
