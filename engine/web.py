"""HTTP on faust's web server: health, readiness, metrics (set up with the sensors), accounts.

The account endpoints read the Redis view, so any worker answers for any
account. With PULSE_API_TOKEN set they require `Authorization: Bearer <token>`
(compared in constant time); /healthz, /readyz and /metrics carry no account data.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import faust
import orjson
import redis.asyncio as aioredis
from faust import web
from redis.exceptions import RedisError

from engine.redis_view import BANDS, list_accounts, read_account

MAX_LIMIT = 1000


def bearer_authorised(header: str, token: str | None) -> bool:
    """Whether an Authorization header carries ``token`` (always, when no token is set).

    Compared in constant time as bytes: ``hmac.compare_digest`` raises TypeError on
    non-ASCII str, which a client could otherwise trigger with any header it likes.
    """
    if token is None:
        return True
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode("utf-8", "surrogateescape"),
        token.encode("utf-8", "surrogateescape"),
    )


def register(
    app: faust.App,
    *,
    redis: aioredis.Redis,
    prefix: str,
    token: str | None,
    readiness: Callable[[], dict[str, bool]],
    write_token: str | None = None,
) -> None:
    """Add Pulse's pages to ``app``; the write token (engine.web_commands) reads too."""

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if write_token is not None and bearer_authorised(header, write_token):
            return True
        return bearer_authorised(header, token)

    @app.page("/healthz")
    async def healthz(self: web.View, request: web.Request) -> web.Response:
        return self.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(self: web.View, request: web.Request) -> web.Response:
        body = readiness()
        return self.json(body, status=200 if body["ready"] else 503)

    @app.page("/accounts/{account_id}")
    async def account(self: web.View, request: web.Request, account_id: str) -> web.Response:
        if not authorised(request):
            return self.json({"error": "unauthorised"}, status=401)
        try:
            document = await read_account(redis, account_id, prefix=prefix)
        except (RedisError, OSError) as exc:
            return self.json({"error": f"account view unavailable: {exc}"}, status=503)
        if document is None:
            return self.json({"error": f"no view for account {account_id!r}"}, status=404)
        return self.bytes(document, content_type="application/json")

    @app.page("/accounts")
    async def accounts(self: web.View, request: web.Request) -> web.Response:
        if not authorised(request):
            return self.json({"error": "unauthorised"}, status=401)
        band = request.query.get("band")
        if band is not None and band not in BANDS:
            return self.json({"error": f"band must be one of {', '.join(BANDS)}"}, status=400)
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIMIT:
            return self.json({"error": f"limit must be 1..{MAX_LIMIT}"}, status=400)
        try:
            rows = await list_accounts(redis, band, limit, prefix=prefix)
        except (RedisError, OSError) as exc:
            return self.json({"error": f"account view unavailable: {exc}"}, status=503)
        items: list[dict[str, Any]] = [{"account_id": a, "score": s} for a, s in rows]
        return self.bytes(orjson.dumps({"accounts": items}), content_type="application/json")
