"""Key hierarchy: Argon2id-wrapped vault key, generation keys sealed to its public half."""

from __future__ import annotations

import unicodedata

import pytest

from agent.vault.errors import CorruptBlob, WrongPassphrase
from agent.vault.keys import (
    KdfParams,
    WrappedKey,
    new_vault_key,
    open_generation_key,
    seal_generation_key,
    unwrap_private_key,
    wrap_private_key,
)

FAST = {"memory_kib": 8 * 1024, "iterations": 1}


def test_kdf_parameters_are_stored_and_reproduce_the_key() -> None:
    kdf = KdfParams.fresh(**FAST)
    again = KdfParams.from_json(kdf.to_json())
    assert again == kdf and again.name == "argon2id" and len(kdf.salt) == 16
    assert kdf.derive("pass phrase") == again.derive("pass phrase") != kdf.derive("pass phrasf")
    assert KdfParams.fresh(**FAST).derive("pass phrase") != kdf.derive("pass phrase")  # fresh salt


def test_defaults_are_memory_hard() -> None:
    kdf = KdfParams.fresh()
    assert kdf.memory_kib >= 64 * 1024 and kdf.iterations >= 3


def test_passphrase_is_unicode_normalised() -> None:
    kdf = KdfParams.fresh(**FAST)
    composed, decomposed = "café 密码", unicodedata.normalize("NFD", "café 密码")
    assert composed != decomposed and kdf.derive(composed) == kdf.derive(decomposed)


def test_wrap_unwrap_and_wrong_passphrase() -> None:
    private, wrapped = new_vault_key("right one", KdfParams.fresh(**FAST))
    restored = WrappedKey.from_json(wrapped.to_json())
    assert unwrap_private_key(restored, "right one").public_key().public_bytes_raw() == wrapped.public_key
    with pytest.raises(WrongPassphrase):
        unwrap_private_key(restored, "wrong one")
    rewrapped = wrap_private_key(private, "new one", KdfParams.fresh(memory_kib=16 * 1024, iterations=2))
    assert rewrapped.public_key == wrapped.public_key and rewrapped.kdf.memory_kib == 16 * 1024
    with pytest.raises(WrongPassphrase):
        unwrap_private_key(rewrapped, "right one")


def test_generation_keys_need_the_private_key() -> None:
    private, wrapped = new_vault_key("p" * 8, KdfParams.fresh(**FAST))
    other, _ = new_vault_key("p" * 8, KdfParams.fresh(**FAST))
    key, sealed = seal_generation_key(wrapped.public_key, "ab" * 16)
    assert open_generation_key(private, "ab" * 16, sealed) == key and len(key) == 32
    with pytest.raises(CorruptBlob):
        open_generation_key(other, "ab" * 16, sealed)
    with pytest.raises(CorruptBlob):
        open_generation_key(private, "cd" * 16, sealed)  # bound to its generation
    with pytest.raises(CorruptBlob):
        open_generation_key(private, "ab" * 16, sealed[:-1])
