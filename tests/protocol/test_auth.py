import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import auth_transcript, b64url, b64url_decode, server_end_point


def test_transcript_binds_nonce_channel_and_device() -> None:
    key = Ed25519PrivateKey.generate()
    binding = server_end_point(b"certificate DER")
    signature = key.sign(auth_transcript("n" * 43, binding, "dev-1"))
    key.public_key().verify(signature, auth_transcript("n" * 43, binding, "dev-1"))
    for other in (
        auth_transcript("m" * 43, binding, "dev-1"),
        auth_transcript("n" * 43, server_end_point(b"a MITM's certificate"), "dev-1"),
        auth_transcript("n" * 43, binding, "dev-2"),
    ):
        with pytest.raises(InvalidSignature):
            key.public_key().verify(signature, other)


def test_transcript_fields_cannot_be_shifted() -> None:
    # Length prefixes: moving bytes between fields changes the transcript.
    assert auth_transcript("ab", b"c", "d") != auth_transcript("a", b"bc", "d")


def test_b64url_round_trip_and_rejects_garbage() -> None:
    assert b64url_decode(b64url(bytes(range(32)))) == bytes(range(32))
    assert "=" not in b64url(b"x")
    with pytest.raises(ValueError, match="not base64url"):
        b64url_decode("a")
