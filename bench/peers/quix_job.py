"""The peer job (bench/peers/job.py) written idiomatically in Quix Streams.

One StreamingDataFrame per input topic, parsed with orjson and concatenated. Group
calls and user-only usage are re-keyed by user (``group_by``) to resolve their account
in user state, then sent keyed by account to a topic that is read back as one more
input (Quix allows no second group_by). The account step keeps its state in Quix's
RocksDB state (changelogged) and sends triggers to the output topic.

Run by the suite: ``python -m bench.peers.quix_job --bootstrap ... --input usage=TOPIC ...``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.models import TopicConfig

from bench.peers import job
from bench.peers.common import Tracker, input_kinds, parse_args


def build(
    app: Application, kinds: dict[str, str], output: str, partitions: int, tracker: Tracker
) -> None:
    """Wire the dataframes: parse, resolve users, fold accounts, send triggers."""

    def parse(kind: str, value: bytes) -> job.Record | None:
        record = job.parse(value, kind)
        if record is None:
            tracker.malformed += 1
        return record

    def by_user(record: job.Record) -> bytes:
        tracker.to_users += 1
        return str(record["u"]).encode()

    def resolve(record: job.Record, state: State) -> list[job.Record]:
        tracker.at_users += 1
        user = state.get("user") or {}
        released, changed = job.resolve(record, user)
        if changed:
            state.set("user", user)
        tracker.check()
        return released

    def by_account(record: job.Record) -> bytes:
        tracker.to_accounts += 1
        record["r"] = 1
        return str(record["a"]).encode()

    def fold(record: job.Record, state: State) -> list[dict[str, Any]]:
        account = state.get("account") or job.new_account()
        triggers = job.update_account(account, record)
        state.set("account", account)
        tracker.triggers += len(triggers)
        if record.get("r"):
            tracker.at_accounts += 1
            tracker.check()
        return triggers

    frames: list[StreamingDataFrame] = []
    for name, kind in kinds.items():
        topic = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        frames.append(app.dataframe(topic).apply(functools.partial(parse, kind)))
    sdf = functools.reduce(lambda left, right: left.concat(right), frames)
    sdf = sdf.filter(lambda record: record is not None)
    users = sdf.filter(job.needs_user).group_by(
        by_user, name="user", key_serializer="bytes", key_deserializer="bytes"
    )
    # Quix allows one group_by per branch: the resolved records go back by account
    # through a topic of their own, read as one more input.
    resolved = app.topic(
        f"{app.config.consumer_group}-resolved",
        key_serializer="bytes",
        key_deserializer="bytes",
        config=TopicConfig(num_partitions=partitions, replication_factor=1),
    )
    users.apply(resolve, stateful=True, expand=True).to_topic(resolved, key=by_account)
    accounts = sdf.filter(lambda record: not job.needs_user(record)).concat(app.dataframe(resolved))
    out = app.topic(output, key_serializer="bytes", value_serializer="json")
    triggers = accounts.apply(fold, stateful=True, expand=True)
    triggers.to_topic(out, key=lambda trigger: str(trigger["account_id"]).encode())


def main() -> None:
    args = parse_args(__doc__ or "")
    kinds = input_kinds(args)
    tracker = Tracker(args.expect)

    def processed(topic: str, partition: int, offset: int) -> None:
        if topic in kinds:
            tracker.input_done()

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel=logging.WARNING,
        on_message_processed=processed,
    )
    build(app, kinds, args.output, args.partitions, tracker)
    app.run()


if __name__ == "__main__":
    main()
