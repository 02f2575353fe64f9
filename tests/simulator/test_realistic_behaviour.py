"""Each realistic archetype does what it claims, measured from the events it emits."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, timedelta

import pytest

from engine.simulator.activity import Draft
from engine.simulator.realistic.activity import RealisticActivity
from engine.simulator.realistic.archetypes import Archetype
from engine.simulator.realistic.outages import Outages
from engine.simulator.realistic.retained import ChampionReplaced, QuietWeeks, SeasonalDip
from engine.simulator.rhythm import activity_factor
from tests.simulator.realistic_support import (
    START,
    billing,
    daily_users,
    decode,
    population,
    render,
)
from topics.catalogue import TopicKind
from topics.models import SurveyResponse, TicketEvent

DAYS = 130


class Book:
    """A realistic population whose accounts are rendered only when a test asks for them."""

    def __init__(self, accounts: int, days: int) -> None:
        self.days = days
        self.activities, self.outages = population(accounts, days)
        self._drafts: dict[str, list[Draft]] = {}

    def of(self, persona: Archetype) -> list[tuple[RealisticActivity, list[Draft]]]:
        chosen = [a for a in self.activities if a.account.persona is persona]
        for activity in chosen:
            if activity.account_id not in self._drafts:
                self._drafts[activity.account_id] = render(activity, self.days)
        return [(a, self._drafts[a.account_id]) for a in chosen]


@pytest.fixture(scope="module")
def book() -> Book:
    return Book(300, DAYS)


def _logins(drafts: list[Draft], first: int, last: int) -> int:
    """Sign-ins on day indexes first..last-1 (UTC days)."""
    low, high = START + timedelta(days=first), START + timedelta(days=last)
    return sum(
        1
        for d in drafts
        if d.kind is TopicKind.USAGE
        and d.user_id is not None
        and low <= d.at.date() < high
        and _name(d) == "Signed In"
    )


def _name(draft: Draft) -> str:
    return str(draft.message.get("event") or draft.message.get("name"))


def _dau_share(activity: RealisticActivity, drafts: list[Draft], outages: Outages) -> float:
    """Average daily active users over days 7-62 with usage tracked, as a share of seats."""
    users = daily_users(drafts)
    shape = activity.account.segment_shape
    days = [
        d for d in range(7, 63) if not outages.hides(d, shape) and not outages.hides(d - 1, shape)
    ]
    active = [len(users.get(START + timedelta(days=d), ())) for d in days]
    return statistics.mean(active) / activity.account.seats


def test_healthy_accounts_have_15_to_40_percent_of_their_seats_active_daily(book: Book) -> None:
    shares = [_dau_share(a, d, book.outages) for a, d in book.of(Archetype.STEADY)]
    assert len(shares) >= 80
    assert 0.15 <= statistics.mean(shares) <= 0.40
    inside = sum(0.08 <= s <= 0.6 for s in shares)
    assert inside >= 0.85 * len(shares)


def _rate(drafts: list[Draft], first: int, last: int) -> float:
    """Sign-ins per unit of calendar activity (a Monday counts 1, a Sunday 0.08)."""
    calendar = sum(activity_factor(START + timedelta(days=d)) for d in range(first, last))
    return _logins(drafts, first, last) / calendar


def test_seasonal_dips_recover(book: Book) -> None:
    accounts = book.of(Archetype.SEASONAL_DIP)
    assert len(accounts) >= 8
    dipped, totals = 0, Counter[str]()
    for activity, drafts in accounts:
        script = activity.script
        assert isinstance(script, SeasonalDip)
        start, end = script.dip_start, script.dip_end
        assert 7 <= end - start <= 14
        before, during = _rate(drafts, start - 21, start), _rate(drafts, start, end)
        after = _rate(drafts, end + 1, end + 22)
        dipped += during < 0.8 * before
        totals.update({"before": before, "during": during, "after": after})
        assert not [e for e in billing(drafts) if e.action == "subscription_cancelled"]
    assert dipped >= 0.7 * len(accounts)
    assert totals["during"] < 0.65 * totals["before"]
    assert totals["after"] > 0.8 * totals["before"]


def test_quiet_weeks_are_quiet_and_then_busy_again(book: Book) -> None:
    accounts = book.of(Archetype.QUIET_WEEKS)
    assert len(accounts) >= 8
    for activity, drafts in accounts:
        script = activity.script
        assert isinstance(script, QuietWeeks)
        low, high = script.quiet[0]
        ordinary = _logins(drafts, 0, book.days) / book.days
        assert _logins(drafts, low, high) / (high - low) < 0.35 * ordinary + 0.3
        assert _logins(drafts, high, min(book.days, high + 14)) > 0


def test_a_replaced_champion_stops_and_a_colleague_carries_the_account(book: Book) -> None:
    accounts = book.of(Archetype.CHAMPION_REPLACED)
    assert len(accounts) >= 8
    carried = 0
    for activity, drafts in accounts:
        script = activity.script
        assert isinstance(script, ChampionReplaced)
        stops = START + timedelta(days=script.stops)
        champion = script.champion.user_id
        usage = [d for d in drafts if d.kind is TopicKind.USAGE and d.user_id is not None]
        assert not [d for d in usage if d.user_id == champion and d.at.date() > stops]
        later = Counter(d.user_id for d in usage if d.at.date() >= stops + timedelta(days=14))
        before = Counter(d.user_id for d in usage if d.at.date() < stops)
        if later and before:
            top_later = later.most_common(1)[0][0]
            carried += top_later != champion and later[top_later] > before[top_later]
        removed = [
            d
            for d in drafts
            if _name(d) == "Account Removed User" and d.message["properties"]["user_id"] == champion
        ]
        assert len(removed) == (
            1 if script.champion.left is not None and script.champion.left < book.days else 0
        )
    assert carried >= 0.6 * len(accounts)


def test_noisy_loyal_accounts_complain_and_stay(book: Book) -> None:
    def tickets_per_seat(persona: Archetype) -> float:
        counts = [
            sum(
                1
                for e in decode(d for d in drafts if d.kind is TopicKind.TICKETS)
                if isinstance(e, TicketEvent) and e.action == "opened"
            )
            / a.account.seats
            for a, drafts in book.of(persona)
        ]
        return statistics.mean(counts)

    assert tickets_per_seat(Archetype.NOISY_LOYAL) > 2.5 * tickets_per_seat(Archetype.STEADY)
    csat, scores = [], []
    for _, drafts in book.of(Archetype.NOISY_LOYAL):
        events = decode(d for d in drafts if d.kind in (TopicKind.TICKETS, TopicKind.FEEDBACK))
        csat += [e.csat for e in events if isinstance(e, TicketEvent) and e.csat is not None]
        scores += [e.score for e in events if isinstance(e, SurveyResponse)]
        assert not [e for e in billing(drafts) if e.action == "subscription_cancelled"]
    assert statistics.mean(csat) < 3.0
    assert sum(s <= 6 for s in scores) > 0.5 * len(scores)


def test_a_champion_leaving_fades_the_team_before_the_cancellation(book: Book) -> None:
    faded = checked = 0
    for activity, drafts in book.of(Archetype.CHAMPION_LEAVES):
        cancelled_at = activity.script.cancelled_at
        stops = getattr(activity.script, "stops", 0)
        if cancelled_at is None or stops < 14:
            continue
        checked += 1
        cancel_day = (cancelled_at.date() - START).days
        before = _logins(drafts, stops - 14, stops)
        last = _logins(drafts, cancel_day - 14, cancel_day)
        faded += last < 0.5 * before
    assert checked >= 3
    assert faded >= 0.8 * checked


def test_expanding_accounts_press_on_their_limits_then_buy(book: Book) -> None:
    accounts = book.of(Archetype.EXPANDS)
    assert len(accounts) >= 8
    pressing = Counter[str]()
    for activity, drafts in accounts:
        expanded_at = activity.script.expanded_at
        assert expanded_at is not None
        bought = [
            e
            for e in billing(drafts)
            if e.action == "subscription_updated" and e.occurred_at == expanded_at
        ]
        assert len(bought) == 1
        seats, mrr = activity.account.seats, activity.account.mrr
        assert (bought[0].seats_purchased or 0) > seats or (bought[0].mrr or 0) > mrr
        month = [d for d in drafts if expanded_at - timedelta(days=28) <= d.at < expanded_at]
        active = {d.user_id for d in month if d.user_id is not None}
        pressing["seats"] += len(active) >= 0.8 * seats
        pressing["premium"] += sum(_name(d) == "Premium Feature Attempted" for d in month) >= 3
        stored = [
            d.message["properties"]["gb"] for d in month if _name(d) == "Data Volume Reported"
        ]
        limit = activity.account.plan.data_volume_limit_gb
        pressing["storage"] += bool(stored) and max(stored) >= 0.8 * limit
    assert min(pressing.values()) >= 0.75 * len(accounts), pressing


def test_accounts_at_their_limits_that_never_buy(book: Book) -> None:
    accounts = book.of(Archetype.LIMITS_NO_PURCHASE)
    assert len(accounts) >= 5
    for activity, drafts in accounts:
        updates = [e for e in billing(drafts) if e.action == "subscription_updated"]
        assert {e.seats_purchased for e in updates} <= {activity.account.seats}
        assert sum(_name(d) == "Premium Feature Attempted" for d in drafts) >= 3


def test_a_segment_outage_loses_the_usage_of_segment_accounts_only(book: Book) -> None:
    segment, everyone = book.outages.outages
    assert 2 <= segment.days <= 4
    assert (segment.scope, everyone.scope) == ("segment", "all")
    window = range(segment.first_day, segment.first_day + segment.days)
    lost = kept = 0
    for activity, drafts in book.of(Archetype.STEADY):
        per_day = Counter((d.at.date() - START).days for d in drafts if d.kind is TopicKind.USAGE)
        week_before = sum(per_day[d] for d in range(window[0] - 7, window[0])) / 7
        during = sum(per_day[d] for d in window) / len(window)
        if activity.account.segment_shape:
            lost += during < 0.3 * week_before
        else:
            kept += during > 0.3 * week_before
    assert lost >= 30
    assert kept >= 20


def test_trials_start_with_a_trial_subscription_and_end_as_the_truth_says(book: Book) -> None:
    outcomes: Counter[str] = Counter()
    for persona in (Archetype.TRIAL_CONVERTS, Archetype.TRIAL_LAPSES):
        for activity, drafts in book.of(persona):
            events = sorted(billing(drafts), key=lambda e: e.occurred_at)
            assert events[0].action == "subscription_started"
            assert events[0].plan == "Trial"
            assert events[0].renewal_date == START + timedelta(
                days=activity.account.first_day + (activity.account.trial_days or 0)
            )
            ended = [
                e
                for e in events[1:]
                if e.action in ("subscription_updated", "subscription_cancelled")
            ]
            if not ended:
                continue
            length = ended[0].occurred_at - events[0].occurred_at
            assert (
                timedelta(days=activity.account.trial_days or 0)
                < length
                < timedelta(days=activity.account.trial_days or 0, minutes=3)
            )
            if persona is Archetype.TRIAL_CONVERTS:
                assert ended[0].action == "subscription_updated"
                assert ended[0].plan != "Trial"
                outcomes["converted"] += 1
            else:
                assert ended[0].action == "subscription_cancelled"
                assert ended[0].occurred_at == activity.script.cancelled_at
                outcomes["lapsed"] += 1
    assert outcomes["converted"] >= 2
    assert outcomes["lapsed"] >= 5


def test_some_accounts_enter_the_stream_mid_contract_without_a_snapshot(book: Book) -> None:
    silent = 0
    for activity, drafts in book.of(Archetype.STEADY):
        events = billing(drafts)
        first_day = min((e.occurred_at.date() for e in events), default=None)
        if not activity.account.snapshot:
            silent += 1
            assert first_day is None or first_day >= activity.account.renewal_date
        else:
            assert first_day == START
    assert silent >= 20
    assert date(2026, 7, 1) == START
