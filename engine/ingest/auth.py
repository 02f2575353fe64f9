"""Who sent a webhook: Stripe's signature scheme, and Segment/RudderStack shared secrets.

Stripe signs `"{t}.{body}"` with HMAC-SHA256 under the endpoint's signing
secret and sends `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`
(several v1 while a secret is being rolled). A signature outside the
tolerance window is refused (Stripe's SDKs use 300 s), so a captured request
cannot be replayed later; within the window the bridge refuses a signature it
has already accepted (`ReplayGuard`). Time is passed in, never read here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping

__all__ = ["ReplayGuard", "SignatureError", "segment_authorised", "verify_stripe"]


class SignatureError(Exception):
    """A request whose signature does not prove it came from the sender; `reason` is a
    short label for the metric (malformed, mismatch, expired, replayed)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def verify_stripe(
    header: str | None, body: bytes, secret: str, *, now: float, tolerance: float
) -> str:
    """Check a `Stripe-Signature`; return the matching signature (for replay detection)."""
    if not header:
        raise SignatureError("malformed", "no Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("malformed", "Stripe-Signature needs t= and v1=")
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    match = next((c for c in candidates if hmac.compare_digest(c, expected)), None)
    if match is None:
        raise SignatureError("mismatch", "no v1 signature matches the body")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("expired", f"signed {now - timestamp:.0f} s from now")
    return match


class ReplayGuard:
    """Signatures accepted within the tolerance window: the same one again is a replay."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def check(self, signature: str) -> None:
        if signature in self._seen:
            raise SignatureError("replayed", "this signature was already accepted")

    def remember(self, signature: str) -> None:
        self._seen[signature] = None
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def segment_authorised(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Segment's webhook `X-Signature` (HMAC-SHA1 of the body, hex), or HTTP basic auth with
    the secret as password or as user (Segment's write-key style), or a bearer token."""
    signature = headers.get("X-Signature")
    if signature:
        expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return hmac.compare_digest(signature.strip(), expected)
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(credentials.strip().encode(), secret.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, _, password = decoded.partition(b":")
        given = password or user
        return hmac.compare_digest(given, secret.encode())
    return False
