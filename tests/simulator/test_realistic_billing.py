"""Realistic billing as the engine receives it: renewals, scheduled cancellations, the truth."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import orjson

from engine.simulator.activity import Draft
from engine.simulator.realistic.archetypes import Archetype
from engine.simulator.realistic.contract import next_period_end
from tests.simulator.conftest import RealisticRun
from tests.simulator.realistic_support import billing, population, render
from topics.catalogue import TopicKind
from topics.codec import decode_input
from topics.models import BillingEvent

_SUBSCRIPTION = ("subscription_started", "subscription_updated", "subscription_cancelled")


def test_cancellations_in_the_stream_are_the_ground_truth(realistic_run: RealisticRun) -> None:
    cancelled = 0
    for account_id, truth in realistic_run.simulation.truth().items():
        events = realistic_run.billing.get(account_id, [])
        times = [e.occurred_at for e in events if e.action == "subscription_cancelled"]
        assert times == ([] if truth.cancelled_at is None else [truth.cancelled_at]), account_id
        cancelled += bool(times)
    assert cancelled >= 5


def test_every_subscription_event_says_how_it_bills(realistic_run: RealisticRun) -> None:
    intervals: Counter[str | None] = Counter()
    for events in realistic_run.billing.values():
        for event in events:
            if event.action in _SUBSCRIPTION:
                intervals[event.interval] += 1
                assert event.interval_count == 1
    assert set(intervals) == {"month", "year"}
    stripe = [r for r in realistic_run.records if b"customer.subscription" in r.value]
    assert stripe
    for record in stripe:
        if record.fault == "malformed":
            continue
        message = orjson.loads(record.value)
        recurring = message["data"]["object"]["items"]["data"][0]["price"]["recurring"]
        assert decode_input(TopicKind.BILLING, record.value).interval == recurring["interval"]


def _renewals(events: list[BillingEvent]) -> list[BillingEvent]:
    """Updates that move the renewal date on the day it falls (the opening snapshot is not one)."""
    renewals, current = [], None
    for event in events:
        if event.action not in _SUBSCRIPTION:
            continue
        new = event.renewal_date
        if current is not None and new is not None and event.occurred_at.date() == current < new:
            renewals.append(event)
        current = event.renewal_date
    return renewals


def test_contracts_renew_monthly_or_yearly_each_with_its_invoice(
    realistic_run: RealisticRun,
) -> None:
    truth = realistic_run.simulation.truth()
    monthly_renewals: list[int] = []
    yearly = 0
    for account_id, events in realistic_run.billing.items():
        contract = truth[account_id].details["contract"]
        if contract == "trial":
            continue
        renewals = _renewals(events)
        for renewal in renewals:
            renewed_on = renewal.occurred_at.date()
            assert renewal.renewal_date == next_period_end(renewed_on, contract), account_id
            invoices = [
                e
                for e in events
                if e.action in ("invoice_paid", "payment_failed")
                and timedelta(0) < e.occurred_at - renewal.occurred_at < timedelta(hours=2)
            ]
            assert len(invoices) == 1, account_id
        if contract == "monthly" and truth[account_id].cancelled_at is None and renewals:
            monthly_renewals.append(len(renewals))
        yearly += contract == "annual" and bool(renewals)
    assert len(monthly_renewals) >= 20
    assert min(monthly_renewals) >= 2  # 100 days: every month from the first one seen
    assert yearly >= 5


def _stripe_style(drafts: list[Draft]) -> set[str]:
    """How a Stripe-shaped account's scheduled cancellations are written."""
    styles = set()
    for draft in drafts:
        subscription = draft.message.get("data", {}).get("object", {})
        if subscription.get("cancel_at"):
            at_period_end = subscription["cancel_at_period_end"]
            styles.add("cancel_at_period_end" if at_period_end else "cancel_at")
    return styles


def test_scheduled_cancellations_precede_their_cancellation_or_are_withdrawn() -> None:
    activities, _ = population(260, 150)
    scheduling = {Archetype.SCHEDULED_CANCEL, Archetype.CHAMPION_LEAVES, Archetype.CANCEL_WITHDRAWN}
    outcomes: Counter[str] = Counter()
    styles: set[str] = set()
    for activity in activities:
        if activity.account.persona not in scheduling:
            continue
        drafts = render(activity, 150)
        events = sorted(billing(drafts), key=lambda e: e.occurred_at)
        for index, event in enumerate(events):
            if event.cancel_scheduled is not True:
                continue
            assert event.cancel_at is not None
            assert event.cancel_at > event.occurred_at
            assert event.cancel_at.time() == datetime.min.time()  # a period end
            assert event.renewal_date == event.cancel_at.date()
            after = events[index + 1 :]
            ends = [
                n
                for n, e in enumerate(after)
                if e.action == "subscription_cancelled" or e.cancel_scheduled is False
            ]
            if not ends:
                assert event.cancel_at.date() >= date(2026, 11, 28)  # after the period
                continue
            assert all(e.renewal_date == event.renewal_date for e in after[: ends[0]])
            end = after[ends[0]]
            if end.action == "subscription_cancelled":
                assert timedelta(0) < end.occurred_at - event.cancel_at < timedelta(minutes=11)
                outcomes["cancelled"] += 1
            else:
                assert activity.account.persona is Archetype.CANCEL_WITHDRAWN
                assert end.occurred_at < event.cancel_at
                outcomes["withdrawn"] += 1
        if activity.account.stripe_shape:
            styles |= _stripe_style(drafts)
    assert outcomes["cancelled"] >= 5
    assert outcomes["withdrawn"] >= 1
    assert styles == {"cancel_at_period_end", "cancel_at"}


def test_failed_payments_recover_within_days_or_end_the_subscription() -> None:
    activities, _ = population(300, 150)
    seen: Counter[Archetype] = Counter()
    for activity in activities:
        persona = activity.account.persona
        if persona not in (Archetype.PAYMENT_RECOVERS, Archetype.PAYMENT_LAPSES):
            continue
        events = sorted(billing(render(activity, 150)), key=lambda e: e.occurred_at)
        failed = [e for e in events if e.action == "payment_failed"]
        if not failed:
            continue
        first = failed[0]
        settled = [
            e
            for e in events
            if e.action in ("payment_recovered", "invoice_paid")
            and e.invoice_id == first.invoice_id
        ]
        cancelled = [e.occurred_at for e in events if e.action == "subscription_cancelled"]
        if persona is Archetype.PAYMENT_RECOVERS:
            assert settled, activity.account_id
            assert settled[0].occurred_at - first.occurred_at < timedelta(days=9)
            assert not cancelled
        else:
            assert not settled, activity.account_id
            if cancelled:
                assert len(failed) == 4  # the renewal, then three retries
                assert timedelta(days=13) < cancelled[0] - first.occurred_at < timedelta(days=22)
        seen[persona] += 1
    assert seen[Archetype.PAYMENT_RECOVERS] >= 5
    assert seen[Archetype.PAYMENT_LAPSES] >= 2


def test_volume_is_moderate(realistic_run: RealisticRun) -> None:
    config = realistic_run.config
    originals = sum(1 for r in realistic_run.records if r.fault in (None, "late"))
    per_account_day = originals / config.accounts / config.days
    assert 8 <= per_account_day <= 20
