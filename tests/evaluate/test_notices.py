"""Outcomes of accounts with several subscriptions: an add-on cancelled, or set to
cancel, beside a main plan that goes on is no churn; the account gives notice when its
last live subscription does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.evaluation.files import read_events
from engine.evaluation.model import Outcome
from engine.evaluation.outcomes import outcomes_from_events
from tests.evaluate.support import day
from tests.evaluate.test_outcomes import billing, usage

MAIN = {"subscription_id": "sub_main", "plan": "Growth", "seats_purchased": 10, "mrr": 450.0}
ADDON = {"subscription_id": "sub_addon", "plan": "Reports", "seats_purchased": 3, "mrr": 60.0}


def _later(fields: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return fields | changes


LINES = [
    # An add-on cancelled on day 30 while the main plan goes on.
    billing("addon_ends", 0, "subscription_started", **MAIN),
    billing("addon_ends", 1, "subscription_started", **ADDON),
    billing("addon_ends", 30, "subscription_cancelled", **ADDON),
    billing("addon_ends", 35, "subscription_updated", **MAIN),
    # An add-on set to cancel (a contraction), still pending when the data ends.
    billing("addon_notice", 0, "subscription_started", **MAIN),
    billing("addon_notice", 1, "subscription_started", **ADDON),
    billing("addon_notice", 10, "subscription_updated", **ADDON, cancel_scheduled=True,
            cancel_at=day(120).isoformat()),
    # Both set to cancel: the account decided when the last of them was, on day 20.
    billing("both", 0, "subscription_started", **MAIN),
    billing("both", 1, "subscription_started", **ADDON),
    billing("both", 10, "subscription_updated", **ADDON, cancel_scheduled=True,
            cancel_at=day(40).isoformat()),
    billing("both", 20, "subscription_updated", **MAIN, cancel_scheduled=True,
            cancel_at=day(60).isoformat()),
    billing("both", 40, "subscription_cancelled", **ADDON),
    billing("both", 60, "subscription_cancelled", **MAIN),
    # An ended add-on's stray update (a seat sync, no revenue, no status) does not bring
    # it back: the main plan's end on day 60 is the account's.
    billing("stray", 0, "subscription_started", **MAIN),
    billing("stray", 1, "subscription_started", **ADDON),
    billing("stray", 30, "subscription_cancelled", **ADDON),
    billing("stray", 31, "subscription_updated", subscription_id="sub_addon", seats_purchased=0),
    billing("stray", 60, "subscription_cancelled", **MAIN),
    # Seats are compared within a subscription: the main plan at 10 after the add-on's
    # 3 is no expansion; the main plan at 12 is.
    billing("seats", 0, "subscription_started", **MAIN),
    billing("seats", 1, "subscription_started", **ADDON),
    billing("seats", 5, "subscription_updated", **ADDON),
    billing("seats", 6, "subscription_updated", **MAIN),
    billing("seats", 50, "subscription_updated", **_later(MAIN, seats_purchased=12, mrr=540.0)),
    usage("seats", 90, "Signed In"),  # the last event: the data ends on day 90
]  # fmt: skip


def _outcomes(tmp_path: Path) -> dict[str, Outcome]:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in LINES) + b"\n")
    return outcomes_from_events(read_events(path).history)


def test_an_add_on_ending_or_set_to_cancel_is_no_churn(tmp_path: Path) -> None:
    outcomes = _outcomes(tmp_path)
    for account in ("addon_ends", "addon_notice"):
        outcome = outcomes[account]
        assert (outcome.cancelled_at, outcome.ended_at) == (None, None), account
        assert not outcome.churned
        assert outcome.observed_until == day(90)


def test_the_account_decides_when_its_last_live_subscription_is_set_to_cancel(
    tmp_path: Path,
) -> None:
    both = _outcomes(tmp_path)["both"]
    assert (both.cancelled_at, both.ended_at) == (day(20), day(60))
    assert both.churned
    assert both.withdrawn_notices == ()


def test_a_stray_update_does_not_bring_an_ended_add_on_back(tmp_path: Path) -> None:
    stray = _outcomes(tmp_path)["stray"]
    assert (stray.cancelled_at, stray.ended_at) == (day(60), day(60))
    assert stray.churned


def test_seats_are_compared_within_a_subscription(tmp_path: Path) -> None:
    assert _outcomes(tmp_path)["seats"].expansions == (day(50),)
