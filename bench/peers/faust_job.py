"""The peer job (bench/peers/job.py) as straightforward faust code, one table write per event.

The way most faust users write it: an agent over the input topics parses each message
with orjson; account events update the account's table entry (read it, fold, write it
back) and send triggers; group calls and user-only usage go through a topic keyed by
user to an agent that resolves the account in a user table, and on to a topic keyed by
account read by a third agent that does the same fold. RocksDB tables, changelogged.

Run by the suite: ``python -m bench.peers.faust_job --bootstrap ... --input usage=TOPIC ...``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import faust

from bench.peers import job
from bench.peers.common import Tracker, input_kinds, parse_args

_RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
_JSON: dict[str, Any] = {"key_type": bytes, "key_serializer": "raw", "value_serializer": "json"}


def build(args: Any, tracker: Tracker) -> faust.App:
    kinds = input_kinds(args)
    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="rocksdb://",
        datadir=args.state_dir,
        topic_partitions=args.partitions,
        table_standby_replicas=0,
        web_enabled=False,
    )
    inputs = app.topic(*kinds, **_RAW)
    by_user = app.topic(f"{args.group}-by-user", partitions=args.partitions, internal=True, **_JSON)
    by_account = app.topic(
        f"{args.group}-by-account", partitions=args.partitions, internal=True, **_JSON
    )
    output = app.topic(args.output, **_JSON)
    accounts = app.Table("accounts", default=None, partitions=args.partitions)
    users = app.Table("users", default=None, partitions=args.partitions)

    async def fold(key: bytes, record: job.Record) -> None:
        state = accounts.get(key) or job.new_account()
        triggers = job.update_account(state, record)
        accounts[key] = state
        for trigger in triggers:
            tracker.triggers += 1
            await output.send(key=key, value=trigger)

    @app.agent(inputs)
    async def route(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            record = job.parse(event.value, kinds[event.message.topic])
            if record is None:
                tracker.malformed += 1
            elif job.needs_user(record):
                tracker.to_users += 1
                await by_user.send(key=str(record["u"]).encode(), value=record)
            else:
                await fold(event.key, record)
            tracker.input_done()
            yield None

    @app.agent(by_user)
    async def resolve(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for key, record in stream.items():
            tracker.at_users += 1
            user = users.get(key) or {}
            released, changed = job.resolve(record, user)
            if changed:
                users[key] = user
            for resolved in released:
                tracker.to_accounts += 1
                await by_account.send(key=str(resolved["a"]).encode(), value=resolved)
            tracker.check()
            yield None

    @app.agent(by_account)
    async def fold_resolved(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for key, record in stream.items():
            await fold(key, record)
            tracker.at_accounts += 1
            tracker.check()
            yield None

    return app


def main() -> None:
    args = parse_args(__doc__ or "")
    app = build(args, Tracker(args.expect))
    sys.argv = [sys.argv[0]]  # faust's command line must not see the suite's arguments
    # faust's log goes to the peer's log file, which the suite shows when the peer stalls
    level = os.environ.get("BENCH_PEER_LOGLEVEL", "info")
    faust.Worker(app, loglevel=level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
