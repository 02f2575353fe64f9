"""Stripe signatures and Segment secrets: tampered, expired, replayed and forged requests fail."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from engine.ingest.auth import ReplayGuard, SignatureError, segment_authorised, verify_stripe

SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1","object":"event","type":"invoice.paid"}'
NOW = 1_800_000_000


def stripe_header(body: bytes, t: int = NOW, secret: str = SECRET) -> str:
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}"


def test_a_signed_body_passes_and_a_rolled_secret_too() -> None:
    assert verify_stripe(stripe_header(BODY), BODY, SECRET, now=NOW, tolerance=300)
    old_and_new = stripe_header(BODY, secret="whsec_old") + "," + stripe_header(BODY).split(",")[1]
    assert verify_stripe(old_and_new, BODY, SECRET, now=NOW, tolerance=300)


@pytest.mark.parametrize(
    ("header", "body", "now", "reason"),
    [
        (stripe_header(BODY), BODY.replace(b"evt_1", b"evt_2"), NOW, "mismatch"),
        (stripe_header(BODY, secret="whsec_other"), BODY, NOW, "mismatch"),
        (stripe_header(BODY, t=NOW - 301), BODY, NOW, "expired"),
        (stripe_header(BODY, t=NOW + 301), BODY, NOW, "expired"),
        (stripe_header(BODY).replace(f"t={NOW}", f"t={NOW + 1}"), BODY, NOW, "mismatch"),
        ("v1=abc", BODY, NOW, "malformed"),
        (None, BODY, NOW, "malformed"),
        (f"t={NOW},v0=abc", BODY, NOW, "malformed"),
    ],
)
def test_tampered_or_expired_stripe_requests_are_refused(
    header: str | None, body: bytes, now: int, reason: str
) -> None:
    with pytest.raises(SignatureError) as refused:
        verify_stripe(header, body, SECRET, now=now, tolerance=300)
    assert refused.value.reason == reason


def test_an_accepted_signature_sent_again_is_a_replay() -> None:
    guard = ReplayGuard()
    signature = verify_stripe(stripe_header(BODY), BODY, SECRET, now=NOW, tolerance=300)
    guard.check(signature)
    guard.remember(signature)
    with pytest.raises(SignatureError, match="already accepted"):
        guard.check(signature)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"X-Signature": hmac.new(b"s3cret", BODY, hashlib.sha1).hexdigest()}, True),
        ({"X-Signature": hmac.new(b"wrong", BODY, hashlib.sha1).hexdigest()}, False),
        ({"Authorization": _basic("pulse", "s3cret")}, True),
        ({"Authorization": _basic("s3cret", "")}, True),
        ({"Authorization": _basic("pulse", "guess")}, False),
        ({"Authorization": "Bearer s3cret"}, True),
        ({"Authorization": "Bearer nope"}, False),
        ({"Authorization": "Basic !!!"}, False),
        ({}, False),
    ],
)
def test_segment_secret_schemes(headers: dict[str, str], ok: bool) -> None:
    assert segment_authorised(headers, BODY, "s3cret") is ok
