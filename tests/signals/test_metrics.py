"""Table-driven tests of every registered metric: (metric, events, as_of) -> value."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signals.config import SignalsConfig, UsageMapping
from signals.errors import Rejection
from signals.ingest import AccountEvent, StateFolder
from signals.metrics import METRIC_READS, METRICS, evaluate, memoised
from signals.state import AccountState
from tests.signals.conftest import CORE
from tests.signals.factories import (
    ACCOUNT,
    at,
    billing,
    login,
    nps,
    profile,
    subscription,
    ticket,
    usage,
)

NOW = at(13)  # Sunday of ISO week 2026-W42


def _logins_per_day(day: int, count: int, users: int = 1) -> list[AccountEvent]:
    return [login(at(day, 1 + i % 20), user=f"u{i % users}") for i in range(count)]


def _weekly_logins(*per_week: int) -> list[AccountEvent]:
    """Logins on the Monday of consecutive ISO weeks ending with the week before NOW's."""
    events: list[AccountEvent] = []
    for back, count in enumerate(reversed(per_week), start=1):
        events += _logins_per_day(7 - 7 * back, count)
    return events


def _opened(day: int, count: int, priority: str = "normal") -> list[AccountEvent]:
    return [
        ticket("opened", at(day, 1 + i), ticket_id=f"t{day}-{i}", priority=priority)
        for i in range(count)
    ]


TEAM = [login(at(d), user=f"u{u}") for d in range(-20, 14) for u in range(d % 4 + 1)]
KEY_GONE = (
    [login(at(d), "c") for d in range(-57, -1)]
    + [login(at(d), "t1") for d in range(-29, 13)]
    + [login(at(d), "t2") for d in range(-28, -1)]
)
SEATS = [
    subscription(
        at(-30),
        seats=8,
        renewal=at(45).date(),
        api_calls_per_day_limit=1000,
        data_volume_limit_gb=100.0,
    )
]

CASES: list[tuple[str, list[AccountEvent], datetime, float | None]] = [
    ("active_users_7d", [], NOW, None),
    ("active_users_7d", [login(at(6), "a"), login(at(7), "b"), login(at(7), "a")], NOW, 2),
    ("active_users_7d", [login(at(6), "a"), login(at(7), "b")], at(12, 23), 2),
    ("active_users_7d", [login(at(6), "a"), login(at(7), "b")], at(13, 0), 1),
    ("active_users_28d", [login(at(-14), "a"), login(at(7), "b"), login(at(-15), "c")], NOW, 2),
    ("stickiness", [], NOW, None),
    ("stickiness", [login(at(d), "a") for d in range(-14, 14)], NOW, 1.0),
    (
        "stickiness",
        [login(at(d), "a") for d in range(0, 14, 2)] + [login(at(1), "b")],
        NOW,
        8 / 28 / 2,
    ),
    ("seat_utilisation", TEAM, NOW, None),
    ("seat_utilisation", TEAM + SEATS, NOW, 4 / 8),
    # Seats from the profile (CRM, Segment group traits) where billing names none ...
    ("seat_utilisation", [*TEAM, profile(at(1), seats=16)], NOW, 4 / 16),
    # ... and never over billing's.
    ("seats_purchased", [*SEATS, profile(at(2), seats=16)], NOW, 8),
    ("dau_share_of_seats", [login(at(d), "a") for d in range(-14, 14)] + SEATS, NOW, 1 / 8),
    # no peer table by default: nothing to compare with (tests/signals/test_peers.py)
    ("dau_share_peer_percentile", [login(at(d), "a") for d in range(-14, 14)] + SEATS, NOW, None),
    ("logins_week", _weekly_logins(10, 6), NOW, 6),
    ("logins_week", _weekly_logins(10, 6) + _logins_per_day(13, 99), NOW, 6),
    ("logins_prior_week", _weekly_logins(10, 6), NOW, 10),
    ("logins_wow_change", _weekly_logins(10, 6), NOW, -0.4),
    ("logins_wow_change", _weekly_logins(0, 6), NOW, None),
    ("feature_adoption_28d", [login(at(1))], NOW, 0.0),
    (
        "feature_adoption_28d",
        [
            usage("Feature Used", at(1), feature="Report Exported"),
            usage("Query Run", at(2)),
            usage("Query Run", at(3)),
            usage("Feature Used", at(4), feature="Not Core"),
            usage("Alert Created", at(-30)),
        ],
        NOW,
        2 / 5,
    ),
    ("premium_attempts_7d", [usage("Upgrade Wall Hit", at(d)) for d in (5, 8, 9, 13)], NOW, 3),
    ("api_calls_day_vs_limit", [usage("API Calls", at(12), count=300)], NOW, None),
    (
        "api_calls_day_vs_limit",
        SEATS
        + [usage("API Calls", at(12, h), count=300) for h in (1, 2)]
        + [usage("API Calls", at(10))],
        NOW,
        0.6,
    ),
    (
        "data_volume_vs_limit",
        [
            *SEATS,
            usage("Data Volume Reported", at(9), gb=95.0),
            usage("Data Volume Reported", at(12), gb=91.0),
        ],
        NOW,
        0.91,
    ),
    ("tickets_opened_7d", [], NOW, None),
    ("tickets_opened_7d", _opened(6, 2) + _opened(7, 3), NOW, 3),
    ("tickets_opened_30d", _opened(-16, 2) + _opened(7, 3), NOW, 5),
    ("tickets_open", [*_opened(7, 3), ticket("solved", at(8), ticket_id="t7-0")], NOW, 2),
    (
        "tickets_open_high_urgent",
        _opened(7, 2, "high")
        + _opened(8, 1, "urgent")
        + _opened(9, 2, "low")
        + [ticket("solved", at(10), ticket_id="t7-1", priority="high")],
        NOW,
        2,
    ),
    (
        "csat_avg_90d",
        [
            ticket("rated", at(1), "a", csat=5),
            ticket("rated", at(2), "b", csat=2),
            ticket("rated", at(3), "b", csat=3),
            ticket("rated", at(-80), "c", csat=1),
        ],
        NOW,
        4.0,
    ),
    ("ticket_trend", _opened(-20, 4) + _opened(10, 2), NOW, 2.0),
    ("ticket_trend", _opened(10, 2), NOW, 2.0),
    ("tickets_vs_prior_4w", _opened(-20, 8) + _opened(10, 3), NOW, 0.5),
    # How improbable a week is at the prior rate: P(6 or more | 2 a week) = 1.7%.
    (
        "tickets_surprise_7d",
        _opened(-20, 8) + _opened(10, 6),
        NOW,
        -math.log10(1 - math.exp(-2) * (1 + 2 + 2 + 4 / 3 + 2 / 3 + 4 / 15)),
    ),
    ("tickets_surprise_7d", _opened(-20, 8), NOW, 0.0),  # no tickets this week
    ("tickets_surprise_7d", [], NOW, None),
    # Urgent ones: none before, so the floor of a quarter a week; normal ones do not count.
    (
        "urgent_tickets_surprise_7d",
        _opened(-20, 8) + _opened(10, 3, "urgent"),
        NOW,
        -math.log10(1 - math.exp(-0.25) * (1 + 0.25 + 0.25**2 / 2)),
    ),
    ("mrr", SEATS, NOW, 1000.0),
    ("mrr", [], NOW, None),
    (
        "seats_purchased",
        [*SEATS, billing("subscription_updated", at(1), seats_purchased=9)],
        NOW,
        9,
    ),
    ("days_to_renewal", SEATS, NOW, 32),
    ("failed_payments_unresolved", SEATS, NOW, 0),
    (
        "failed_payments_unresolved",
        [
            billing("payment_failed", at(9), invoice_id="a"),
            billing("payment_failed", at(10), invoice_id="b"),
            billing("invoice_paid", at(11), invoice_id="b"),
        ],
        NOW,
        1,
    ),
    ("days_past_due", SEATS, NOW, 0),
    (
        "days_past_due",
        [
            billing("payment_failed", at(9), invoice_id="a"),
            billing("payment_failed", at(10), invoice_id="a"),
        ],
        NOW,
        4,
    ),
    (
        "days_past_due",
        [
            billing("payment_failed", at(7), invoice_id="a"),
            billing("payment_recovered", at(8), invoice_id="a"),
            billing("payment_failed", at(11), invoice_id="a"),
        ],
        NOW,
        2,
    ),
    ("nps_promoters", [nps(9, at(1), "a"), nps(10, at(2), "b"), nps(3, at(3), "b")], NOW, 1),
    ("nps_passives", [nps(7, at(1), "a"), nps(8, at(-100), "b")], NOW, 1),
    ("nps_detractors", [nps(9, at(1), "a"), nps(6, at(2), "b")], NOW, 1),
    (
        "nps",
        [nps(9, at(1), "a"), nps(10, at(1), "b"), nps(8, at(1), "c"), nps(0, at(1), "d")],
        NOW,
        25.0,
    ),
    ("nps", [], NOW, None),
    ("nps_avg_score_90d", [nps(9, at(1), "a"), nps(6, at(1), "b")], NOW, 7.5),
    ("trainings_completed", [login(at(1))], NOW, None),
    ("trainings_completed", [usage("Training Completed", at(d)) for d in (1, 3)], NOW, 2),
    ("business_reviews_attended", [usage("Business Review Attended", at(2))], NOW, 1),
    ("days_since_last_login", [], NOW, None),
    ("days_since_last_login", [login(at(10, 12))], at(13, 0), 2.5),
    ("days_since_last_login", [login(at(3)), login(at(12))], at(5, 12), 2.0),
    ("referrals_30d", [usage("Referral Sent", at(d)) for d in (-20, 1, 2)], NOW, 2),
    (
        "community_30d",
        [usage("Community Post Created", at(1)), usage("Community Answer Posted", at(2))],
        NOW,
        2,
    ),
    (
        "core_usage_vs_prior_4w",
        [usage("Query Run", at(-20 + i % 14, 1 + i % 20)) for i in range(16)]
        + [usage("Query Run", at(8, h)) for h in (1, 2, 3)],
        NOW,
        -0.25,
    ),
    ("core_usage_vs_prior_4w", [usage("Query Run", at(8))], NOW, None),
    ("executive_sponsor", [profile(at(1), executive_sponsor=False)], NOW, 0.0),
    ("executive_sponsor", [profile(at(1), csm_owner="cara")], NOW, None),
    ("acv", [profile(at(1), acv=120_000.0)], NOW, 120_000.0),
    ("days_in_trial_or_onboarding", [usage("Trial Started", at(0))], NOW, 13),
    ("days_in_trial_or_onboarding", [profile(at(-1), lifecycle_stage="onboarding")], NOW, 14),
    (
        "days_in_trial_or_onboarding",
        [usage("Trial Started", at(0)), profile(at(5), lifecycle_stage="adopted")],
        NOW,
        None,
    ),
    (
        "seats_net_added_28d",
        [
            usage("Account Added User", at(1)),
            usage("Account Added User", at(2)),
            usage("Account Removed User", at(3)),
        ],
        NOW,
        1,
    ),
    ("invites_sent_28d", [usage("Invite Sent", at(1))], NOW, 1),
    ("tickets_high_urgent_opened_7d", _opened(9, 2, "urgent") + _opened(10, 1), NOW, 2),
    ("logins_7d", _logins_per_day(8, 3), NOW, 3),
    ("core_uses_7d", [usage("Query Run", at(8))], NOW, 1),
    # -- lifecycle ----------------------------------------------------------------------
    ("observed_days", [], NOW, None),
    ("observed_days", [login(at(3))], NOW, 10),
    ("observed_days", [login(at(13, 1))], NOW, 0),  # the account's first day
    ("observed_days", [login(at(5)), profile(at(-2), acv=1.0)], NOW, 15),
    ("days_since_last_activity", [], NOW, None),
    ("days_since_last_activity", [*SEATS, billing("invoice_paid", at(12))], NOW, None),
    (
        "days_since_last_activity",
        [login(at(3)), usage("Report Exported", at(10), user="bob")],
        NOW,
        3,
    ),
    ("days_since_last_activity", [login(at(13, 9))], NOW, 0),
    ("silent_days", [login(at(1, 9))], NOW, 12),  # October: no holiday to leave out
    ("silent_days", [login(at(74, 9))], at(90), 16 - 9),  # 18 Dec to 3 Jan, less the break
    ("silent_days", [billing("invoice_paid", at(12))], NOW, None),
    ("days_at_seats", [login(at(1))], NOW, None),
    ("days_at_seats", [subscription(at(-20), seats=10), subscription(at(5), seats=10)], NOW, 33),
    (  # a change moves it; the snapshot after repeating the new count does not
        "days_at_seats",
        [
            subscription(at(-20), seats=10),
            billing("subscription_updated", at(5), seats_purchased=12),
            billing("subscription_updated", at(9), seats_purchased=12),
        ],
        NOW,
        8,
    ),
    ("holidays_14d", [], NOW, None),
    ("holidays_14d", [login(at(1))], NOW, 0),
    ("holidays_14d", [login(at(1))], at(90), 9),  # 3 January: 20 Dec..2 Jan, the whole break
    ("holidays_14d", [login(at(1))], at(104), 0),  # 17 January: 3..16 Jan
    ("days_to_contract_renewal", SEATS, NOW, None),  # a 75-day term is not a contract
    ("days_to_contract_renewal", [subscription(at(-30), renewal=at(70).date())], NOW, 57),
    (
        "days_to_contract_renewal",
        [subscription(at(-30), renewal=at(45).date(), interval="year")],
        NOW,
        32,
    ),
    (
        "days_to_contract_renewal",
        [subscription(at(-30), renewal=at(70).date(), interval="month")],
        NOW,
        None,
    ),
    (
        "days_to_contract_renewal",
        [
            subscription(at(-30), renewal=at(45).date(), interval="month", interval_count=3),
            billing("subscription_cancelled", at(2)),
        ],
        NOW,
        None,
    ),
    (
        "contract_renewal_day",
        [subscription(at(-30), renewal=at(45).date(), interval="month", interval_count=3)],
        NOW,
        at(45).toordinal(),
    ),
    ("contract_renewal_day", SEATS, NOW, None),
    ("cancellation_scheduled", [], NOW, None),
    ("cancellation_scheduled", SEATS, NOW, 0),
    (
        "cancellation_scheduled",
        [*SEATS, billing("subscription_updated", at(2), cancel_at=at(20))],
        NOW,
        1,
    ),
    (
        "cancellation_scheduled",
        [
            *SEATS,
            billing("subscription_updated", at(2), cancel_at=at(20)),
            billing("subscription_updated", at(3), cancel_scheduled=False),
        ],
        NOW,
        0,
    ),
    (
        "cancellation_scheduled",
        [
            *SEATS,
            billing("subscription_updated", at(2), cancel_at=at(20)),
            billing("subscription_cancelled", at(3)),
        ],
        NOW,
        0,
    ),
    ("days_to_scheduled_cancellation", SEATS, NOW, None),
    (
        "days_to_scheduled_cancellation",
        [*SEATS, billing("subscription_updated", at(2), cancel_at=at(20))],
        NOW,
        7,
    ),
    ("subscription_cancelled", [], NOW, None),
    ("subscription_cancelled", SEATS, NOW, 0),
    ("subscription_cancelled", [*SEATS, billing("subscription_cancelled", at(2))], NOW, 1),
    (
        "subscription_cancelled",
        [*SEATS, billing("subscription_cancelled", at(2)), subscription(at(5))],
        NOW,
        0,
    ),
    ("trial_progress", [login(at(1))], NOW, None),
    ("trial_progress", [usage("Trial Started", at(6))], NOW, 0.5),  # 14 days by default
    (
        "trial_progress",
        [usage("Trial Started", at(6)), subscription(at(6), renewal=at(34).date())],
        NOW,
        0.25,
    ),
    ("trial_progress", [profile(at(-1), lifecycle_stage="trial")], NOW, 1.0),
    # Stripe's trial dates say its length, with nothing else to say it is a trial
    (
        "trial_progress",
        [subscription(at(3), subscription_status="trialing", trial_start=at(3), trial_end=at(33))],
        NOW,
        1 / 3,
    ),
    (  # over: the trial ended on day 10 (the subscription converted or ended)
        "trial_progress",
        [subscription(at(-20), trial_start=at(-20), trial_end=at(10))],
        NOW,
        None,
    ),
    (  # a billed trial long over does not hide a new one started since
        "trial_progress",
        [
            subscription(at(-300), trial_start=at(-300), trial_end=at(-286)),
            usage("Trial Started", at(6)),
        ],
        NOW,
        0.5,
    ),
    (
        "trial_progress",
        [usage("Trial Started", at(6)), profile(at(8), lifecycle_stage="adopted")],
        NOW,
        None,
    ),
    # -- usage against the account's own baseline (TEAM: d % 4 + 1 users on day d) -------
    ("active_user_days_14d", [], NOW, None),
    # Whole days before NOW's day 13 only: recent -1..12, baseline -29..-2.
    ("active_user_days_14d", TEAM, NOW, 4 + 31),  # day -1: 4 users; days 0..12: 31
    ("active_user_days_baseline_14d", TEAM, NOW, (4 * 10 + 1 + 2 + 3) / 2),  # -20..-2
    ("active_user_days_baseline_14d", [login(at(13))], NOW, 0),
    ("usage_vs_baseline", TEAM, NOW, 35 / 23 - 1),
    ("usage_vs_baseline", [login(at(13))], NOW, None),  # no baseline: no ratio
    ("usage_drop_z", TEAM, NOW, (35 - 23) / 23**0.5),
    (
        "usage_drop_z",
        [login(at(d), f"u{d % 2}") for d in range(-29, -1)] + [login(at(5))],
        NOW,
        (1 - 14) / 14**0.5,
    ),
    ("usage_drop_z", [login(at(13))], NOW, None),
    # Counting noise plus a 20% spread of the baseline: a collapse of a small account
    # still reads as one, an ordinary wobble does not.
    ("usage_change_z", TEAM, NOW, (35 - 23) / (23 + (0.2 * 23) ** 2) ** 0.5),
    (
        "usage_change_z",
        [login(at(d), f"u{d % 2}") for d in range(-29, -1)] + [login(at(5))],
        NOW,
        (1 - 14) / (14 + 2.8**2) ** 0.5,
    ),
    ("usage_change_z", [login(at(13))], NOW, None),
    # -- key users (KEY_GONE: "c" on every day of the 8 weeks before the last 14 whole
    # days, -57..-2, then gone; "t1" daily from -29 on, "t2" daily -28..-2: the key
    # users are "c" (56 days) and "t1" (28), "t2" (27) is third)
    ("key_users_away_14d", [], NOW, None),
    ("key_users_away_14d", KEY_GONE, NOW, 1),  # "c" away the whole fortnight -1..12
    ("key_users_away_14d", [*KEY_GONE, login(at(5), "c")], NOW, 0),
    ("key_users_away_14d", [*KEY_GONE, login(at(-1), "c")], NOW, 0),  # the fortnight's 1st day
    # only the recent fortnight's activity: no regular in the 8 weeks before it
    ("key_users_away_14d", [login(at(d), "n") for d in range(-1, 13)], NOW, None),
    # with 28 more days "t2" (56) outranks "t1" (28) as a key user, and is away too
    ("key_users_away_14d", [*KEY_GONE, *(login(at(d), "t2") for d in range(-57, -29))], NOW, 2),
    ("key_users_away_14d", [login(at(d), "u1") for d in range(-40, -27)], NOW, None),  # 13 d
    ("team_usage_vs_baseline", [], NOW, None),
    ("team_usage_vs_baseline", KEY_GONE, NOW, 14 / (55 / 2) - 1),  # "c" counted on no side
    ("team_usage_vs_baseline", [*KEY_GONE, login(at(5), "c")], NOW, 15 / (83 / 2) - 1),
    ("team_usage_vs_baseline", [login(at(d), "c") for d in range(-57, -1)], NOW, None),
    ("unpaid_since_day", SEATS, NOW, None),
    (
        "unpaid_since_day",
        [
            billing("payment_failed", at(9), invoice_id="a"),
            billing("payment_failed", at(10), invoice_id="b"),
            billing("payment_failed", at(11), invoice_id="a"),
        ],
        NOW,
        at(9).toordinal(),
    ),
    (
        "unpaid_since_day",
        [
            billing("payment_failed", at(9), invoice_id="a"),
            billing("payment_failed", at(10), invoice_id="b"),
            billing("payment_recovered", at(11), invoice_id="a"),
        ],
        NOW,
        at(10).toordinal(),
    ),
]


@pytest.mark.parametrize(
    ("name", "events", "as_of", "expected"),
    CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)],
)
def test_metric(
    folder: StateFolder,
    name: str,
    events: list[AccountEvent],
    as_of: datetime,
    expected: float | None,
) -> None:
    state = AccountState(ACCOUNT)
    for event in events:
        assert not isinstance(folder.apply(state, event, now=event.occurred_at), Rejection)
    value = evaluate(name, state, as_of, folder.config)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


def test_every_metric_has_a_case() -> None:
    assert set(METRICS) - {case[0] for case in CASES} == set()


def test_every_metric_is_none_without_data(config: SignalsConfig) -> None:
    empty = AccountState(ACCOUNT)
    values = {name: evaluate(name, empty, NOW, config) for name in METRICS}
    assert {name for name, value in values.items() if value is not None} == set()


def test_every_metric_declares_what_it_reads() -> None:
    # observed_days reads no facet: the folder forgets it when the first day moves
    assert {name for name in METRICS if not METRIC_READS[name]} <= {"observed_days"}


def test_observed_days_follows_a_late_earlier_event(config: SignalsConfig) -> None:
    folder = StateFolder(config)
    state = AccountState(ACCOUNT)
    folder.apply(state, login(at(10)), now=at(10))
    assert memoised("observed_days", state, at(10, 13), config) == 0
    folder.apply(state, login(at(8), user="bob"), now=at(10, 13))  # late, within the bound
    assert evaluate("observed_days", state, at(10, 13), config) == 2
    assert memoised("observed_days", state, at(10, 13), config) == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(CASES) - 1), min_size=1, max_size=6))
def test_memoised_values_always_equal_fresh_ones(picks: list[int]) -> None:
    """The memo is dropped exactly when an event changes what a metric reads."""
    config = SignalsConfig(usage=UsageMapping(core_features=CORE))
    folder = StateFolder(config)
    state = AccountState(ACCOUNT)
    events = sorted(
        {e.event_id: e for i in picks for e in CASES[i][1]}.values(),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    for event in events:
        folder.apply(state, event, now=NOW)
        for name in METRICS:
            for as_of in (NOW, NOW - timedelta(days=7)):
                assert memoised(name, state, as_of, config) == evaluate(name, state, as_of, config)


def test_a_contract_stays_a_contract_when_an_update_repeats_its_renewal_date(
    folder: StateFolder,
) -> None:
    renewal = at(65).date()
    events = [
        subscription(at(-300), seats=10, renewal=renewal),  # a 365-day term
        billing("subscription_updated", at(0), seats_purchased=12, renewal_date=renewal),
    ]
    state = AccountState(ACCOUNT)
    for event in events:
        folder.apply(state, event, now=event.occurred_at)
    assert evaluate("days_to_contract_renewal", state, NOW, folder.config) == 52


def test_numeric_strings_count_as_their_number(folder: StateFolder) -> None:
    """Segment SDKs often send numbers as strings: "300" is 300 calls, "91.5" is 91.5 GB."""
    events = [
        *SEATS,
        usage("API Calls", at(12, 1), count="300"),
        usage("API Calls", at(12, 2), count=" 300 "),
        usage("Data Volume Reported", at(12, 3), gb="91.5"),
    ]
    state = AccountState(ACCOUNT)
    for event in events:
        assert not isinstance(folder.apply(state, event, now=event.occurred_at), Rejection)
    assert evaluate("api_calls_day_vs_limit", state, NOW, folder.config) == pytest.approx(0.6)
    assert evaluate("data_volume_vs_limit", state, NOW, folder.config) == pytest.approx(0.915)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (usage("API Calls", at(12), count="five hundred"), "got the string 'five hundred'"),
        (usage("API Calls", at(12), count=-3), "got -3"),
        (usage("API Calls", at(12), count=True), "got bool"),
        (usage("Data Volume Reported", at(12), gb="NaN"), "got 'NaN'"),
        (usage("Data Volume Reported", at(12), gb="1e999"), "got '1e999'"),
    ],
)
def test_a_quantity_that_is_not_a_number_is_refused_with_its_reason(
    folder: StateFolder, event: AccountEvent, reason: str
) -> None:
    """Never miscounted: before, "five hundred" API calls counted as 1 and changed state."""
    state = AccountState(ACCOUNT)
    before = state.seen

    result = folder.apply(state, event, now=event.occurred_at)

    assert isinstance(result, Rejection)
    assert result.kind == "invalid_quantity"
    assert reason in result.message
    assert result.message.startswith("properties.")
    assert state.seen == before
    # The same event id is not remembered, so a corrected resend is applied.
    fixed = event.model_copy(update={"properties": {"count": 5, "gb": 5.0}})
    assert not isinstance(folder.apply(state, fixed, now=event.occurred_at), Rejection)


def test_a_steady_account_reads_level_at_a_midnight_tick(folder: StateFolder) -> None:
    """Trends compare whole days: at a midnight tick the day just begun has no activity
    yet, and counting it made every steady account read about 7% down."""
    state = AccountState(ACCOUNT)
    for day in range(-45, 13):
        for user in ("u1", "u2"):
            event = login(at(day), user=user)
            assert not isinstance(folder.apply(state, event, now=event.occurred_at), Rejection)
    midnight = at(13, 0)

    assert evaluate("active_user_days_14d", state, midnight, folder.config) == 28
    assert evaluate("usage_vs_baseline", state, midnight, folder.config) == 0
    assert evaluate("usage_drop_z", state, midnight, folder.config) == 0


def test_an_ordinary_dip_of_a_large_account_is_not_a_fall(folder: StateFolder) -> None:
    """100 users active every day, then 90 (a 10% dip: a holiday, a release week): in
    units of counting noise alone that is several sigma; in units of the spread usage
    really has, it is a wobble. A fall of 60% reads as one in both."""

    def fold(recent_users: int) -> AccountState:
        state = AccountState(ACCOUNT)
        for day in range(-45, 13):
            users = recent_users if day >= -1 else 100
            for user in range(users):
                event = login(at(day), user=f"u{user}")
                assert not isinstance(folder.apply(state, event, now=event.occurred_at), Rejection)
        return state

    dip, fall, when = fold(90), fold(40), at(13, 0)

    assert evaluate("usage_drop_z", dip, when, folder.config) < -3  # counting noise alone
    assert -1 < evaluate("usage_change_z", dip, when, folder.config) < 0  # type: ignore[operator]
    assert evaluate("usage_change_z", fall, when, folder.config) < -2.5  # type: ignore[operator]


def test_the_key_user_is_the_same_whatever_order_users_arrived_in(
    config: SignalsConfig,
) -> None:
    """Three users as active as each other for two key places: the tie goes by user
    digest, not by which user the state happened to number first, so a replay and a
    live worker agree."""
    folder = StateFolder(config)
    recent = [login(at(d), "a") for d in range(-1, 13)]
    values = set()
    for users in (("a", "b", "c"), ("c", "b", "a"), ("b", "c", "a")):
        ordered = [login(at(d), user) for d in range(-57, -1) for user in users]
        ordered += recent
        state = AccountState(ACCOUNT)
        for event in ordered:
            assert not isinstance(folder.apply(state, event, now=event.occurred_at), Rejection)
        values.add(evaluate("key_users_away_14d", state, NOW, config))
    assert len(values) == 1  # "a" is active throughout, "b" and "c" are not
    assert values <= {1, 2}
