"""The vault's key hierarchy.

passphrase ──Argon2id(salt, params)──▶ KEK ──AES-256-GCM──▶ vault private key (X25519, random)
vault public key ──X25519 + HKDF (ephemeral)──▶ wraps one random AES-256 key per *generation*
(one close of one folder) ──AES-256-GCM chunks──▶ the blobs of that generation.

Why a key pair rather than one symmetric data key: closing must work without the passphrase — the vault
closes by itself when an engineer connects, and the user is not there to type it. Closing only needs the
public key; opening needs the private key, which only the passphrase unwraps. Changing the passphrase or
the KDF parameters re-wraps the 32-byte private key and never touches the blobs.
"""

from __future__ import annotations

import base64
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from agent.vault.errors import CorruptBlob, WrongPassphrase

# RFC 9106 §4, second recommended option (64 MiB, t=3, p=4): ~0.2 s here, memory-hard.
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_ITERATIONS = 3
DEFAULT_LANES = 4
# The wrap's version is bound into its AAD. Version 2 means "this vault's metadata is authenticated"
# (auth.py): a file edited back to version 1 to skip that check no longer unwraps as version 1.
PRIVATE_KEY_AAD = {1: b"rme-vault/private-key/v1", 2: b"rme-vault/private-key/v2"}
WRAP_VERSION = 2
METADATA_KEY_INFO = b"rme-vault/metadata-mac/v1"
GENERATION_KEY_AAD = b"rme-vault/generation-key/v1/"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters, stored beside the wrapped key so they can be raised later (`vault passwd`)."""

    salt: bytes
    memory_kib: int = DEFAULT_MEMORY_KIB
    iterations: int = DEFAULT_ITERATIONS
    lanes: int = DEFAULT_LANES
    name: str = "argon2id"

    @classmethod
    def fresh(cls, memory_kib: int = DEFAULT_MEMORY_KIB, iterations: int = DEFAULT_ITERATIONS) -> KdfParams:
        lanes = max(1, min(DEFAULT_LANES, memory_kib // 8))
        return cls(
            salt=os.urandom(16), memory_kib=max(memory_kib, 8 * lanes), iterations=iterations, lanes=lanes
        )

    def derive(self, passphrase: str) -> bytes:
        if self.name != "argon2id":
            raise ValueError(f"unknown KDF {self.name!r}")
        # NFC so the same passphrase typed through different input methods gives the same key.
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        kdf = Argon2id(
            salt=self.salt,
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(secret)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "salt": b64(self.salt),
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KdfParams:
        return cls(
            salt=unb64(data["salt"]),
            memory_kib=int(data["memory_kib"]),
            iterations=int(data["iterations"]),
            lanes=int(data["lanes"]),
            name=str(data["name"]),
        )


@dataclass(frozen=True)
class WrappedKey:
    """The vault's X25519 private key sealed under the passphrase-derived KEK."""

    kdf: KdfParams
    nonce: bytes
    sealed: bytes
    public_key: bytes
    version: int = 1  # files from before authenticated metadata have none

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kdf": self.kdf.to_json(),
            "nonce": b64(self.nonce),
            "sealed": b64(self.sealed),
            "public_key": b64(self.public_key),
        }
        if self.version != 1:
            doc["version"] = self.version
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WrappedKey:
        version = int(data.get("version", 1))
        if version not in PRIVATE_KEY_AAD:
            raise ValueError(f"unknown key wrap version {version}")
        return cls(
            kdf=KdfParams.from_json(data["kdf"]),
            nonce=unb64(data["nonce"]),
            sealed=unb64(data["sealed"]),
            public_key=unb64(data["public_key"]),
            version=version,
        )


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def wrap_private_key(
    private: X25519PrivateKey, passphrase: str, kdf: KdfParams, version: int = WRAP_VERSION
) -> WrappedKey:
    nonce = os.urandom(12)
    aad = PRIVATE_KEY_AAD[version]
    sealed = AESGCM(kdf.derive(passphrase)).encrypt(nonce, _raw_private(private), aad)
    public = _raw_public(private.public_key())
    return WrappedKey(kdf=kdf, nonce=nonce, sealed=sealed, public_key=public, version=version)


def new_vault_key(passphrase: str, kdf: KdfParams) -> tuple[X25519PrivateKey, WrappedKey]:
    private = X25519PrivateKey.generate()
    return private, wrap_private_key(private, passphrase, kdf)


def unwrap_private_key(wrapped: WrappedKey, passphrase: str) -> X25519PrivateKey:
    aead = AESGCM(wrapped.kdf.derive(passphrase))
    try:
        raw = aead.decrypt(wrapped.nonce, wrapped.sealed, PRIVATE_KEY_AAD[wrapped.version])
    except InvalidTag:
        for version, aad in PRIVATE_KEY_AAD.items():  # the right passphrase, but the version was edited?
            if version != wrapped.version:
                try:
                    aead.decrypt(wrapped.nonce, wrapped.sealed, aad)
                except InvalidTag:
                    continue
                raise CorruptBlob("the key wrap's version was changed") from None
        raise WrongPassphrase() from None
    private = X25519PrivateKey.from_private_bytes(raw)
    if _raw_public(private.public_key()) != wrapped.public_key:
        # Someone replaced the stored public key: later closes would have been sealed to their key.
        raise CorruptBlob("the stored public key does not match the private key")
    return private


def _generation_kek(shared: bytes, ephemeral: bytes, recipient: bytes, generation: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + recipient,
        info=GENERATION_KEY_AAD + generation.encode("ascii"),
    )
    return hkdf.derive(shared)


def seal_generation_key(public_key: bytes, generation: str) -> tuple[bytes, bytes]:
    """A fresh AES-256 key for one generation and its sealed form (ephemeral pub ‖ nonce ‖ ciphertext)."""
    recipient = X25519PublicKey.from_public_bytes(public_key)
    ephemeral = X25519PrivateKey.generate()
    eph_raw = _raw_public(ephemeral.public_key())
    kek = _generation_kek(ephemeral.exchange(recipient), eph_raw, public_key, generation)
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    sealed = eph_raw + nonce + AESGCM(kek).encrypt(nonce, key, GENERATION_KEY_AAD + generation.encode())
    return key, sealed


def open_generation_key(private: X25519PrivateKey, generation: str, sealed: bytes) -> bytes:
    if len(sealed) != 32 + 12 + 32 + 16:
        raise CorruptBlob("generation key has the wrong length")
    eph_raw, nonce, body = sealed[:32], sealed[32:44], sealed[44:]
    recipient = _raw_public(private.public_key())
    shared = private.exchange(X25519PublicKey.from_public_bytes(eph_raw))
    kek = _generation_kek(shared, eph_raw, recipient, generation)
    try:
        return AESGCM(kek).decrypt(nonce, body, GENERATION_KEY_AAD + generation.encode())
    except InvalidTag:
        raise CorruptBlob("generation key failed authentication") from None


def metadata_key(private: X25519PrivateKey) -> bytes:
    """The key that authenticates vault.json: only whoever can unwrap the private key can make it."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=METADATA_KEY_INFO)
    return hkdf.derive(_raw_private(private))
