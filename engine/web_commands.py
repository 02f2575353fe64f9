"""HTTP write paths: a CS platform's overrides, snoozes and feedback, onto the commands topic.

Writes need the write token (``PULSE_API_WRITE_TOKEN``, ``Authorization: Bearer``);
the read token is refused (403), no or a wrong token is 401, and with no write token
configured every write is refused (403): writes are never open by default. A command
is answered 202 once the broker has it (acks from all in-sync replicas); the worker
applies it in order with the account's events. A rule or health component not in
force, or a field out of range, is 422 with the field; an account with no view yet,
or feedback on a trigger the account does not remember, is 404. A request naming
another deployment in ``X-Pulse-Deployment`` is 403. Every answer is counted in
``pulse_api_writes_total{endpoint, outcome}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
import orjson
import redis.asyncio as aioredis
from faust import web
from redis.exceptions import RedisError

from engine.commands import build
from engine.metrics import Metrics
from engine.redis_view import read_account
from engine.transport.clients import BROKER_ERRORS
from engine.web import bearer_authorised
from signals.commands import Commands
from topics.codec import encode, encode_key
from topics.errors import PulseValidationError
from topics.models import Command, TriggerFeedback

MAX_BODY_BYTES = 64 * 1024
DEPLOYMENT_HEADER = "X-Pulse-Deployment"
"""A client that talks to several deployments names the one it means (its topic
prefix); a write that reaches another is refused (403) before anything else."""


class _Refused(Exception):
    def __init__(self, status: int, outcome: str, error: str) -> None:
        super().__init__(error)
        self.status, self.outcome, self.error = status, outcome, error


class CommandWrites:
    """What the write endpoints share: tokens, the rules in force, the view, the topic."""

    def __init__(
        self,
        app: faust.App,
        *,
        topic: str,
        deployment: str,
        read_token: str | None,
        write_token: str | None,
        commands: Commands,
        redis: aioredis.Redis,
        redis_prefix: str,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.topic = topic
        self.deployment = deployment
        self.read_token, self.write_token = read_token, write_token
        self.commands = commands
        self.redis, self.redis_prefix = redis, redis_prefix
        self.metrics = metrics

    def authorise(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        meant = request.headers.get(DEPLOYMENT_HEADER)
        if meant is not None and meant != self.deployment:
            reason = f"this is deployment {self.deployment!r}, not {meant!r}"
            raise _Refused(403, "wrong_deployment", reason)
        if self.write_token is not None and bearer_authorised(header, self.write_token):
            return
        if not header:
            raise _Refused(401, "unauthorised", "a write needs Authorization: Bearer <write token>")
        if self.read_token is not None and bearer_authorised(header, self.read_token):
            raise _Refused(403, "forbidden", "this token may read, not write")
        if self.write_token is None:
            raise _Refused(403, "forbidden", "writes are disabled: set PULSE_API_WRITE_TOKEN")
        raise _Refused(401, "unauthorised", "unknown token")

    @staticmethod
    async def body_of(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            raise _Refused(413, "invalid", f"body over {MAX_BODY_BYTES} bytes")
        if not raw:
            return {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _Refused(400, "invalid", f"invalid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _Refused(400, "invalid", "the body must be a JSON object")
        return body

    async def known(self, command: Command) -> None:
        """The account has a view, and feedback names one of the triggers it remembers."""
        account_id = command.account_id
        try:
            view = await read_account(self.redis, account_id, prefix=self.redis_prefix)
        except (RedisError, OSError) as exc:
            raise _Refused(503, "unavailable", f"account view unavailable: {exc}") from None
        if view is None:
            raise _Refused(404, "unknown_account", f"no account {account_id!r} is known")
        remembered = orjson.loads(view).get("trigger_ids")
        if (
            isinstance(command, TriggerFeedback)
            and remembered is not None  # views written before they listed them
            and command.trigger_id not in remembered
        ):
            reason = (
                f"no trigger {command.trigger_id!r} among the {len(remembered)} account "
                f"{account_id!r} remembers"
            )
            raise _Refused(404, "unknown_trigger", reason)

    async def command(
        self, request: web.Request, kind: str, fields: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Command:
        """The request's command, checked as the worker would check it."""
        self.authorise(request)
        body = await self.body_of(request)
        try:
            command = build(kind, fields(body))
        except PulseValidationError as exc:
            raise _Refused(422, "invalid", str(exc)) from None
        refused = self.commands.refusal(command)  # as the worker would dead-letter it
        if refused is not None:
            raise _Refused(422, "invalid", refused.message)
        await self.known(command)
        return command

    async def give(
        self,
        view: web.View,
        request: web.Request,
        endpoint: str,
        kind: str,
        fields: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> web.Response:
        """Answer one write: 202 once the broker has the command, or why not."""
        try:
            command = await self.command(request, kind, fields)
            try:
                sent = await self.app.producer.send_and_wait(
                    self.topic, encode_key(command.account_id), encode(command), None, None, None
                )
            except BROKER_ERRORS as exc:
                raise _Refused(503, "unavailable", f"not sent: {exc!r}") from None
        except _Refused as refused:
            self.metrics.api_writes.labels(endpoint=endpoint, outcome=refused.outcome).inc()
            return view.json({"error": refused.error}, status=refused.status)
        self.metrics.api_writes.labels(endpoint=endpoint, outcome="accepted").inc()
        answer = {
            "command_id": command.command_id,
            "type": command.type,
            "account_id": command.account_id,
            "deployment": self.deployment,
            "topic": self.topic,
            "partition": sent.partition,
            "offset": sent.offset,
        }
        return view.json(answer, status=202)


def register_writes(app: faust.App, writes: CommandWrites) -> None:
    """Add the write endpoints to ``app``."""
    give = writes.give

    @app.page("/accounts/{account_id}/overrides")
    class Overrides(web.View):
        async def post(self, request: web.Request, account_id: str) -> web.Response:
            return await give(
                self, request, "overrides", "override_set", lambda b: b | {"account_id": account_id}
            )

        async def delete(self, request: web.Request, account_id: str) -> web.Response:
            component = request.query.get("component")

            def fields(body: dict[str, Any]) -> dict[str, Any]:
                return body | {"account_id": account_id, "component": component}

            return await give(self, request, "overrides", "override_cleared", fields)

    @app.page("/accounts/{account_id}/snoozes")
    class Snoozes(web.View):
        async def post(self, request: web.Request, account_id: str) -> web.Response:
            return await give(
                self, request, "snoozes", "rule_snoozed", lambda b: b | {"account_id": account_id}
            )

    @app.page("/accounts/{account_id}/snoozes/{rule_id}")
    class Snooze(web.View):
        async def delete(self, request: web.Request, account_id: str, rule_id: str) -> web.Response:
            def fields(body: dict[str, Any]) -> dict[str, Any]:
                return body | {"account_id": account_id, "rule_id": rule_id}

            return await give(self, request, "snoozes", "snooze_lifted", fields)

    @app.page("/triggers/{trigger_id}/feedback")
    class Feedback(web.View):
        async def post(self, request: web.Request, trigger_id: str) -> web.Response:
            return await give(
                self,
                request,
                "feedback",
                "trigger_feedback",
                lambda b: b | {"trigger_id": trigger_id},
            )

    del Overrides, Snoozes, Snooze, Feedback  # registered with the app
