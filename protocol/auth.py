"""What a device signs to prove its key, bound to the server nonce and the TLS channel.

Channel binding is RFC 5929 `tls-server-end-point`: SHA-256 of the server certificate (DER) as the
agent saw it. A man in the middle with another certificate cannot replay the signature to the real
server, and a nonce is single-use. (Python's ssl module exposes no TLS exporter, so RFC 9266's
`tls-exporter` is not available to us.)
"""

from __future__ import annotations

import base64
import hashlib

TRANSCRIPT_LABEL = b"RME device authentication v1\n"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raises ValueError on anything else."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise ValueError(f"not base64url: {exc}") from None


def server_end_point(certificate_der: bytes) -> bytes:
    """The `tls-server-end-point` channel binding value for a certificate signed with SHA-256."""
    return hashlib.sha256(certificate_der).digest()


def auth_transcript(nonce: str, channel_binding: bytes, device_id: str) -> bytes:
    """The exact bytes the device signs with its Ed25519 key (unambiguous: length-prefixed fields)."""
    parts = (nonce.encode("ascii"), channel_binding, device_id.encode("utf-8"))
    out = bytearray(TRANSCRIPT_LABEL)
    for part in parts:
        out += len(part).to_bytes(2, "big") + part
    return bytes(out)
