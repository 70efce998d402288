"""Inbound Standard Webhooks verification with the real `standardwebhooks` library: whatever an
anonymous caller sends in the three headers or the body is a `SignatureError` with a code (a 401),
never an exception of the library's parsing (a 500)."""

from __future__ import annotations

import datetime as dt

import pytest
from standardwebhooks import Webhook

from server.billing.signatures import SignatureError, new_secret, verify

SECRET = new_secret()


def now() -> tuple[dt.datetime, str]:
    """The time at the test, not at import: the library checks the timestamp against its own clock,
    and a suite runs the billing tests long after collecting them."""
    moment = dt.datetime.now(dt.UTC)
    return moment, str(int(moment.timestamp()))


def test_a_good_signature_verifies() -> None:
    moment, stamp = now()
    headers = {"webhook-id": "m1", "webhook-timestamp": stamp,
               "webhook-signature": Webhook(SECRET).sign("m1", moment, '{"a":1}')}  # fmt: skip
    assert verify(b'{"a":1}', headers, [SECRET], moment) == "m1"


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (b'{"a":1}', "no-comma-at-all"),  # the library unpacks "version,signature"
        (b'{"a":1}', "v1,a,b"),
        (b'{"a":1}', "v1,***not base64***"),
        (b'{"a":1}', "v1,abc"),  # bad base64 padding
        (b'{"name": "\xff\xfe"}', "v1,AAAA"),  # not UTF-8: the library decodes the body
    ],
)
def test_malformed_signatures_and_bodies_are_refusals(body: bytes, signature: str) -> None:
    moment, stamp = now()
    headers = {"webhook-id": "m1", "webhook-timestamp": stamp, "webhook-signature": signature}
    with pytest.raises(SignatureError) as refused:
        verify(body, headers, [SECRET], moment)
    assert refused.value.code == "signature.invalid"
