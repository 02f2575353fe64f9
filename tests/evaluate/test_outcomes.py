"""Outcomes read from a small hand-written events file, one account per decision."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.evaluation.files import read_events
from engine.evaluation.integrity import integrity
from engine.evaluation.model import Outcome
from engine.evaluation.outcomes import Truth, TruthAccount, outcomes_from_events, with_truth
from tests.evaluate.support import day, trigger

_ids = iter(range(1_000_000))


def billing(account: str, at: float, action: str, **fields: Any) -> dict[str, Any]:
    value = {
        "type": "billing",
        "event_id": f"b{next(_ids)}",
        "occurred_at": day(at).isoformat(),
        "account_id": account,
        "action": action,
        **fields,
    }
    return {"topic": "billing", "value": value}


def usage(account: str | None, at: float, name: str, user: str | None = "u0") -> dict[str, Any]:
    value = {
        "type": "track",
        "event_id": f"u{next(_ids)}",
        "occurred_at": day(at).isoformat(),
        "account_id": account,
        "user_id": user,
        "name": name,
    }
    return {"topic": "usage", "value": value}


GROWTH = {"plan": "Growth", "seats_purchased": 10, "mrr": 450.0}
LINES = [
    # Paid churn, after buying two more seats on day 20.
    {"topic": "accounts", "value": {"type": "account", "event_id": "p1", "account_id": "paid",
                                    "occurred_at": day(0).isoformat(), "csm_owner": "ann"}},
    billing("paid", 0, "subscription_updated", **GROWTH),
    billing("paid", 20, "subscription_updated", plan="Growth", seats_purchased=12, mrr=540.0),
    billing("paid", 50, "subscription_cancelled", **GROWTH),
    # An upgrade: the same seats, a dearer plan.
    billing("upgrade", 0, "subscription_updated", **GROWTH),
    billing("upgrade", 10, "subscription_updated", plan="Enterprise", seats_purchased=10,
            mrr=800.0),
    # A trial that lapses (plan "Trial", MRR 0).
    billing("trial", 0, "subscription_started", plan="Trial", seats_purchased=5, mrr=0.0),
    billing("trial", 14, "subscription_cancelled", plan="Trial", seats_purchased=5, mrr=0.0),
    # A trial known from Segment's "Trial Started", priced as Growth, never paid: a lapse too.
    usage("trialing", 0, "Trial Started"),
    billing("trialing", 0, "subscription_started", **GROWTH),
    billing("trialing", 14, "subscription_cancelled", **GROWTH),
    # Stripe's own trial: priced as Growth, "trialing" until its trial_end on day 14,
    # when the subscription is deleted unpaid: a lapse, though nothing says "Trial".
    billing("stripe_trial", 0, "subscription_started", subscription_status="trialing",
            trial_end=day(14).isoformat(), **GROWTH),
    billing("stripe_trial", 14, "subscription_cancelled", subscription_status="canceled",
            trial_end=day(14).isoformat(), **GROWTH),
    # The same trial paid at its end, cancelled on day 50: paid churn.
    billing("stripe_paid", 0, "subscription_started", subscription_status="trialing",
            trial_end=day(14).isoformat(), **GROWTH),
    billing("stripe_paid", 14, "subscription_updated", subscription_status="active",
            trial_end=day(14).isoformat(), **GROWTH),
    billing("stripe_paid", 50, "subscription_cancelled", subscription_status="canceled",
            trial_end=day(14).isoformat(), **GROWTH),
    # Stripe's default for a trial with no card: an invoice at trial_end, past_due,
    # deleted after dunning on day 35, never paid: a lapse.
    billing("dunned", 0, "subscription_started", subscription_id="s1",
            subscription_status="trialing", trial_end=day(14).isoformat(), **GROWTH),
    billing("dunned", 14, "subscription_updated", subscription_id="s1",
            subscription_status="past_due", trial_end=day(14).isoformat(), **GROWTH),
    billing("dunned", 35, "subscription_cancelled", subscription_id="s1",
            subscription_status="canceled", trial_end=day(14).isoformat(), **GROWTH),
    # A paid subscription grows while an add-on is in its trial: an expansion.
    billing("addon", 0, "subscription_started", subscription_id="main",
            subscription_status="active", **GROWTH),
    billing("addon", 20, "subscription_started", subscription_id="extra",
            subscription_status="trialing", trial_end=day(50).isoformat(), plan="Extra",
            seats_purchased=1, mrr=20.0),
    billing("addon", 30, "subscription_updated", subscription_id="main",
            subscription_status="active", plan="Growth", seats_purchased=12, mrr=540.0),
    # Its first event after the stream began is a seat rise Stripe says came from 6.
    billing("grew", 30, "subscription_updated", seats_before=6, **GROWTH),
    billing("same", 30, "subscription_updated", seats_before=10, **GROWTH),
    # A trial that converts: not an expansion, and retained.
    billing("converts", 0, "subscription_started", plan="Trial", seats_purchased=5, mrr=0.0),
    billing("converts", 14, "subscription_updated", plan="Growth", seats_purchased=8, mrr=360.0),
    billing("converts", 15, "invoice_paid", amount=360.0, invoice_id="in1"),
    # Cancelled on day 30, back on day 40: the last state counts, so retained.
    billing("back", 0, "subscription_updated", **GROWTH),
    billing("back", 30, "subscription_cancelled", **GROWTH),
    billing("back", 40, "subscription_started", **GROWTH),
    # A cancellation scheduled on day 20 that takes effect on day 60: decided on day 20.
    billing("notice", 0, "subscription_updated", **GROWTH),
    billing("notice", 20, "subscription_updated", cancel_scheduled=True,
            cancel_at=day(60).isoformat(), **GROWTH),
    billing("notice", 60, "subscription_cancelled", **GROWTH),
    # A scheduled cancellation withdrawn.
    billing("withdrawn", 0, "subscription_updated", **GROWTH),
    billing("withdrawn", 10, "subscription_updated", cancel_scheduled=True, **GROWTH),
    billing("withdrawn", 15, "subscription_updated", cancel_scheduled=False, **GROWTH),
    # Segment: a group call links u9 to "seg"; its user-only events land there.
    {"topic": "usage", "value": {"type": "group", "messageId": "g1", "userId": "u9",
                                 "groupId": "seg", "timestamp": day(3).isoformat()}},
    {"topic": "usage", "value": {"type": "track", "messageId": "t1", "userId": "u9",
                                 "event": "Signed In", "timestamp": day(2.5).isoformat()}},
    {"topic": "usage", "value": {"type": "track", "messageId": "t2", "userId": "u-nobody",
                                 "event": "Signed In", "timestamp": day(5).isoformat()}},
    usage("converts", 90, "Signed In"),  # the last event: the data ends on day 90
]  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    lines = [orjson.dumps(line) for line in LINES]
    lines.append(lines[1])  # a duplicate
    lines.append(b"{not json")
    path.write_bytes(b"\n".join(lines) + b"\n")
    read = read_events(path)
    assert read.rejected_lines == 1
    assert (read.history.duplicates, read.history.unresolved) == (1, 1)
    # every line but the duplicate and the broken one, the group call counted once
    assert read.history.summary().events == len(LINES)
    return outcomes_from_events(read.history)


def test_cancellation_expansion_and_owner(outcomes: dict[str, Outcome]) -> None:
    paid = outcomes["paid"]
    assert paid.churned
    assert not paid.trial
    assert (paid.cancelled_at, paid.ended_at) == (day(50), day(50))
    assert (paid.observed_from, paid.observed_until) == (day(0), day(50))
    assert paid.expansions == (day(20),)
    assert paid.csm_owner == "ann"
    assert outcomes["upgrade"].expansions == (day(10),)
    assert outcomes["grew"].expansions == (day(30),)
    assert outcomes["addon"].expansions == (day(30),)
    assert not outcomes["addon"].trial
    assert outcomes["same"].expansions == ()
    assert outcomes["upgrade"].observed_until == day(90)


def test_trials_lapse_apart_from_paid_churn(outcomes: dict[str, Outcome]) -> None:
    assert outcomes["trial"].trial_lapse
    assert outcomes["trialing"].trial_lapse
    assert outcomes["stripe_trial"].trial_lapse
    assert outcomes["dunned"].trial_lapse
    stripe_paid = outcomes["stripe_paid"]
    assert stripe_paid.churned
    assert not stripe_paid.trial_lapse
    converts = outcomes["converts"]
    assert not converts.trial_lapse
    assert converts.cancelled_at is None
    assert converts.expansions == ()


def test_reactivation_means_retained_but_the_lapse_is_kept(outcomes: dict[str, Outcome]) -> None:
    back = outcomes["back"]
    assert back.cancelled_at is None
    assert not back.churned
    assert back.lapses == ((day(30), day(40)),)
    assert back.expansions == ()
    during, after = trigger("back", "r", 35), trigger("back", "r", 45)
    assert integrity([during, after], outcomes).churn_after_cancellation == 1


def test_a_scheduled_cancellation_is_decided_at_its_notice(outcomes: dict[str, Outcome]) -> None:
    notice = outcomes["notice"]
    assert (notice.cancelled_at, notice.ended_at) == (day(20), day(60))
    checked = integrity([trigger("notice", "r", 30), trigger("notice", "r", 61)], outcomes)
    assert (checked.churn_after_notice, checked.churn_after_cancellation) == (1, 1)
    assert checked.after_notice_by_rule == {"r": 1}
    withdrawn = outcomes["withdrawn"]
    assert withdrawn.cancelled_at is None
    assert withdrawn.withdrawn_notices == ((day(10), day(15)),)
    # An alert while the notice stood repeats what the customer said: not a false alarm.
    checked = integrity([trigger("withdrawn", "r", 12), trigger("withdrawn", "r", 16)], outcomes)
    assert (checked.churn_after_notice, checked.churn_after_cancellation) == (1, 0)


def test_user_only_usage_resolves_through_the_group_call(outcomes: dict[str, Outcome]) -> None:
    assert outcomes["seg"].observed_from == day(2.5)  # the parked event, released by the link
    assert "u-nobody" not in outcomes


def test_the_truth_overrides_cancellations_and_names_personas(
    outcomes: dict[str, Outcome],
) -> None:
    truth = Truth(
        {
            "paid": TruthAccount("declining", "Growth", None),
            "trial": TruthAccount("trial_never_adopts", "Trial", day(14)),
            "ghost": TruthAccount("healthy", "Growth", None),
            "notice": TruthAccount("scheduled_cancel", "Growth", day(60)),
            "back": TruthAccount("churned", "Growth", day(30)),
        },
        start=day(0),
        end=day(91),
    )
    merged = with_truth(outcomes, truth, data_end=day(90))
    assert set(merged) == {"paid", "trial", "ghost", "notice", "back"}
    assert merged["paid"].cancelled_at is None
    assert merged["paid"].observed_until == day(90)
    assert merged["paid"].expansions == (day(20),)  # still from the events
    assert merged["trial"].trial_lapse
    assert (merged["ghost"].observed_from, merged["ghost"].observed_until) == (day(0), day(90))
    assert merged["ghost"].persona == "healthy"
    # The events' notice stays the decision; the truth says when it ended.
    assert (merged["notice"].cancelled_at, merged["notice"].ended_at) == (day(20), day(60))
    # The truth's word is final: "back" cancelled for good on day 30, no lapse.
    assert (merged["back"].cancelled_at, merged["back"].lapses) == (day(30), ())


def test_a_notice_pending_when_the_data_ends_is_churn_with_a_truth_too() -> None:
    """A truth records cancellations within its period; one taking effect after it is
    invisible to it, but the account decided at its notice, as without a truth."""
    pending = Outcome(observed_from=day(0), observed_until=day(90), cancelled_at=day(80))
    took_effect = Outcome(
        observed_from=day(0), observed_until=day(70), cancelled_at=day(50), ended_at=day(70)
    )
    truth = Truth(
        {
            "pending": TruthAccount("x", "Growth", None),
            "took_effect": TruthAccount("x", "Growth", None),
        },
        start=day(0),
        end=day(91),
    )
    merged = with_truth({"pending": pending, "took_effect": took_effect}, truth, day(90))
    assert (merged["pending"].cancelled_at, merged["pending"].ended_at) == (day(80), None)
    assert merged["pending"].observed_until == day(90)
    assert merged["pending"].churned
    # Near miss: a cancellation the events saw take effect is the truth's to overrule.
    assert merged["took_effect"].cancelled_at is None
