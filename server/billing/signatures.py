"""Standard Webhooks signatures, both ways, through the `standardwebhooks` library.

Inbound (the BSS calls us): a request must carry `webhook-id`, `webhook-timestamp` and
`webhook-signature`; the timestamp must be within `TOLERANCE` of now (replays of old captures fail);
the signature must match one of the integration's secrets (two are valid during a rotation). Each
failure has its own machine-readable code. Outbound (we call the operator's billing): the same
headers, signed with the endpoint's secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterable, Mapping

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["TOLERANCE", "SignatureError", "new_secret", "sign_headers", "verify"]

TOLERANCE = dt.timedelta(minutes=5)


class SignatureError(Exception):
    """A request that is not provably from the integration; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def verify(body: bytes, headers: Mapping[str, str], keys: Iterable[str], now: dt.datetime) -> str:
    """Check the request; returns its `webhook-id`. Raises SignatureError with a code."""
    lower = {k.lower(): v for k, v in headers.items()}
    message_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    if not message_id or not stamp or not lower.get("webhook-signature"):
        raise SignatureError(
            "signature.missing", "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    if len(message_id) > 128:
        raise SignatureError("signature.bad_id", "webhook-id is longer than 128 characters")
    try:
        sent = dt.datetime.fromtimestamp(int(stamp), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureError("timestamp.invalid", "webhook-timestamp is not a Unix time in seconds") from None
    if abs(now - sent) > TOLERANCE:
        raise SignatureError(
            "timestamp.stale", "webhook-timestamp is more than 5 minutes from the server's time"
        )
    for key in keys:
        try:
            Webhook(key).verify(body, lower, json_parse=False)
        except (WebhookVerificationError, ValueError):
            # ValueError: the library's own parsing of what anyone may send — a signature without
            # "v1,", bad base64, a body that is not UTF-8 — is as unproven as a wrong signature.
            continue
        return message_id
    raise SignatureError("signature.invalid", "the signature matches none of the integration's secrets")


def sign_headers(secret: str, message_id: str, when: dt.datetime, payload: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, when, payload),
        "content-type": "application/json",
    }
