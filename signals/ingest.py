"""Folding one input event into an account's state: lateness, dedup, then a commutative update."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from signals.config import SignalsConfig, UsageMapping
from signals.errors import Rejection
from signals.metrics import METRIC_READS, forget
from signals.state import (
    API_CALLS,
    CLOSED,
    COMMUNITY,
    CORE_USES,
    DATA_GB,
    FACET_CSAT,
    FACET_FEATURES,
    FACET_LAST_LOGIN,
    FACET_NPS,
    FACET_PAYMENTS,
    FACET_PROFILE,
    FACET_SUBSCRIPTION,
    FACET_TICKET_STATUS,
    FACET_TRIAL,
    FACET_USERS,
    INVITES,
    LOGINS,
    OPEN,
    PREMIUM_ATTEMPTS,
    PRIORITIES,
    REFERRALS,
    REVIEWS,
    ROLES,
    SEATS_ADDED,
    SEATS_REMOVED,
    SEEN_BILLING,
    SEEN_FEEDBACK,
    SEEN_PROFILE,
    SEEN_TICKETS,
    SEEN_USAGE,
    TICKETS_HIGH_OPENED,
    TICKETS_OPENED,
    TRAININGS,
    USAGE_EVENTS,
    AccountState,
    counter_bit,
    event_hash,
    fingerprint,
    from_micros,
    lww,
    micros,
    non_negative,
    quantity_problem,
    user_hash,
)
from signals.subscriptions import fold_subscription
from signals.trials import record_trial
from topics.models import (
    AccountProfile,
    BillingEvent,
    Command,
    SurveyResponse,
    TicketEvent,
    UsageEvent,
)

DataEvent = UsageEvent | TicketEvent | BillingEvent | SurveyResponse | AccountProfile
"""An input event already resolved to an account (UserLinks are the engine's business)."""
AccountEvent = DataEvent | Command
"""What the core applies to an account: its events and the commands about it."""

_HIGH: Final = frozenset({"high", "urgent"})
_RESOLVING: Final = frozenset({"payment_recovered", "invoice_paid"})
_SUBSCRIPTION_FIELDS: Final = (
    "plan",
    "seats_purchased",
    "mrr",
    "currency",
    "api_calls_per_day_limit",
    "data_volume_limit_gb",
    "interval",
    "interval_count",
    "cancel_scheduled",
)
_PROFILE_FIELDS: Final = (
    "name",
    "segment",
    "csm_owner",
    "acv",
    "lifecycle_stage",
    "executive_sponsor",
    "plan",
    "seats",
)


class UsageClassifier:
    """Resolves an event name to counter slots once, so the hot path is one dict lookup."""

    def __init__(self, mapping: UsageMapping) -> None:
        slots: dict[str, list[int]] = {}
        for names, slot in (
            (mapping.login_events, LOGINS),
            (mapping.premium_attempt_events, PREMIUM_ATTEMPTS),
            (mapping.referral_events, REFERRALS),
            (mapping.community_events, COMMUNITY),
            (mapping.training_events, TRAININGS),
            (mapping.business_review_events, REVIEWS),
            (mapping.seat_added_events, SEATS_ADDED),
            (mapping.seat_removed_events, SEATS_REMOVED),
            (mapping.invite_sent_events, INVITES),
        ):
            for name in names:
                slots.setdefault(name, []).append(slot)
        self.slots: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in slots.items()}
        self.logins = mapping.login_events
        self.trial_started = mapping.trial_started_events
        self.core = {name: user_hash(name) for name in mapping.core_features}
        self.premium = mapping.premium_features
        self.feature_event = mapping.feature_event
        self.feature_property = mapping.feature_property
        self.api_event = mapping.api_call_event
        self.api_property = mapping.api_call_count_property
        self.volume_event = mapping.data_volume_event
        self.volume_property = mapping.data_volume_property

    def quantity_problem(self, event: UsageEvent) -> str | None:
        """Why an API-call or data-volume event's quantity cannot be counted, if it cannot."""
        if event.name == self.api_event:
            field = self.api_property
        elif event.name == self.volume_event:
            field = self.volume_property
        else:
            return None
        problem = quantity_problem(event.properties.get(field))
        return None if problem is None else f"properties.{field}: {problem}"


class StateFolder:
    """Applies events to ``AccountState`` under one configuration (precomputed lookups)."""

    def __init__(self, config: SignalsConfig) -> None:
        self.config = config
        self.usage = UsageClassifier(config.usage)
        self.health_reads = 0
        """Facets the health score reads: touching one marks the memoised score stale."""
        for component in config.health.components.values():
            for scale in component.metrics:
                self.health_reads |= METRIC_READS.get(scale.metric, 0)

    def apply(self, state: AccountState, event: DataEvent, now: datetime) -> int | Rejection:
        """Fold ``event`` into ``state``: the facets it changed, or why it changed nothing."""
        occurred = event.occurred_at
        late = occurred < now - self.config.lateness_bound
        if not late and isinstance(event, UsageEvent):
            problem = self.usage.quantity_problem(event)
            if problem is not None:
                return Rejection("invalid_quantity", event.event_id, problem)
        refused = self.admit(state, event, now)
        if refused is not None:
            return refused
        eid = event_hash(event.event_id)
        day = occurred.toordinal()
        _first_event(state, micros(occurred), day)
        if isinstance(event, UsageEvent):
            touched = self._usage(state, event, day)
        elif isinstance(event, TicketEvent):
            touched = self._ticket(state, event, day, eid)
        elif isinstance(event, BillingEvent):
            touched = self._billing(state, event, eid)
        elif isinstance(event, SurveyResponse):
            touched = self._survey(state, event, day, eid)
        else:
            touched = self._profile(state, event, eid)
        if touched & ~state.seen:
            state.memo.clear()  # a first-ever fact turns "no data" into data everywhere
            state.health_memo = None
        else:
            if state.memo:
                forget(state, touched, day)
            memo = state.health_memo
            if memo is not None and touched & self.health_reads:
                state.health_memo = (memo[0], memo[1], memo[2] | touched)
        state.seen |= touched
        return touched

    def admit(self, state: AccountState, event: AccountEvent, now: datetime) -> Rejection | None:
        """Whether an event or a command is in time and new; remembers its id if so."""
        occurred = event.occurred_at
        if occurred < now - self.config.lateness_bound:
            return Rejection("late", event.event_id, _late_message(occurred, now, self.config))
        # By event time, not ``now``: when an event is applied depends on the reader (a
        # replay's clock runs ahead of a partition's), and data the event's metrics still
        # read must not be gone because it was applied a few hours after its day.
        self.prune(state, min(occurred, now))
        eid = fingerprint(event_hash(event.event_id))
        if not _remember_id(state, eid, occurred.toordinal(), self.config.dedup_capacity):
            return Rejection("duplicate", event.event_id, "event id already applied")
        return None

    def prune(self, state: AccountState, now: datetime) -> None:
        """Drop what no metric or dedup check can need any more; runs once per new day of
        the account's event time (``now``: an admitted event's time, or a tick's). Ids
        are kept for the lateness bound behind it: as long as the lateness check, behind
        the reader's clock, can accept an event, unless an event from up to
        ``max_future_skew`` ahead moved the account's clock past the reader's."""
        today = now.toordinal()
        if today <= state.pruned_day:
            return
        state.pruned_day = today
        state.memo.clear()
        state.health_memo = None
        config = self.config
        oldest_bucket = today - config.retention_days + 1
        if state.buckets and min(state.buckets) < oldest_bucket:
            for day in [d for d in state.buckets if d < oldest_bucket]:
                del state.buckets[day]
            state.compact_users()
        horizon_us = micros(now - config.lateness_bound)
        oldest_id_day = (now - config.lateness_bound).toordinal()
        for day in [d for d in state.dedup if d < oldest_id_day]:
            del state.dedup[day]
        state.tickets = {
            t: v for t, v in state.tickets.items() if v[0] != CLOSED or v[1] >= horizon_us
        }
        oldest_csat = today - config.windows.csat_days
        state.csat = {t: v for t, v in state.csat.items() if v[2] >= oldest_csat}
        state.payments = {
            k: v for k, v in state.payments.items() if max(v) > v[0] or v[0] >= horizon_us
        }
        state.nps = {r: v for r, v in state.nps.items() if v[2] >= oldest_bucket}
        oldest_score = today - config.health.history_days
        history = state.health_history
        if history and min(history) < oldest_score:
            state.health_history = {d: s for d, s in history.items() if d >= oldest_score}

    def _usage(self, state: AccountState, event: UsageEvent, day: int) -> int:
        bucket = state.bucket(day)
        counts = bucket.counts
        counts[USAGE_EVENTS] += 1
        seen = SEEN_USAGE
        if event.user_id is not None:
            bit = state.user_bit(event.user_id)
            if not bucket.users & bit:
                bucket.users |= bit
                seen |= FACET_USERS
        usage = self.usage
        name = event.name
        slots = usage.slots.get(name, ())
        for slot in slots:
            counts[slot] += 1
            seen |= counter_bit(slot)
        if name in usage.logins:
            state.last_login_us = max(state.last_login_us, micros(event.occurred_at))
            seen |= FACET_LAST_LOGIN
        if name in usage.trial_started and (
            state.trial_started_day < 0 or day < state.trial_started_day
        ):
            state.trial_started_day = day
            seen |= FACET_TRIAL
        feature = name
        if name == usage.feature_event:
            value = event.properties.get(usage.feature_property)
            feature = value if isinstance(value, str) else ""
        core = usage.core.get(feature)
        if core is not None:
            if core not in bucket.features:
                bucket.features.add(core)
                seen |= FACET_FEATURES
            counts[CORE_USES] += 1
            seen |= counter_bit(CORE_USES)
        if feature in usage.premium and PREMIUM_ATTEMPTS not in slots:
            counts[PREMIUM_ATTEMPTS] += 1
            seen |= counter_bit(PREMIUM_ATTEMPTS)
        if name == usage.api_event:
            counts[API_CALLS] += non_negative(event.properties.get(usage.api_property), 1)
            seen |= counter_bit(API_CALLS)
        elif name == usage.volume_event:
            volume = non_negative(event.properties.get(usage.volume_property), 0)
            counts[DATA_GB] = max(counts[DATA_GB], volume)
            seen |= counter_bit(DATA_GB)
        return seen

    def _ticket(self, state: AccountState, event: TicketEvent, day: int, eid: int) -> int:
        ts = micros(event.occurred_at)
        action = event.action
        touched = SEEN_TICKETS
        if event.csat is not None:
            rating = state.csat.get(event.ticket_id)
            if rating is None or (ts, eid) > (rating[0], rating[1]):
                state.csat[event.ticket_id] = [ts, eid, day, event.csat]
                touched |= FACET_CSAT
        if action == "rated":
            return touched
        touched |= FACET_TICKET_STATUS
        if action == "opened":
            touched |= counter_bit(TICKETS_OPENED) | counter_bit(TICKETS_HIGH_OPENED)
            bucket = state.bucket(day)
            bucket.counts[TICKETS_OPENED] += 1
            if event.priority in _HIGH:
                bucket.counts[TICKETS_HIGH_OPENED] += 1
        ticket = state.tickets.setdefault(event.ticket_id, [0, -1, 0, 1, -1, 0])
        if action != "updated" and (ts, eid) > (ticket[1], ticket[2]):
            ticket[0:3] = [CLOSED if action == "solved" else OPEN, ts, eid]
        if (ts, eid) > (ticket[4], ticket[5]):
            ticket[3:6] = [PRIORITIES.index(event.priority), ts, eid]
        return touched

    def _billing(self, state: AccountState, event: BillingEvent, eid: int) -> int:
        ts = micros(event.occurred_at)
        action = event.action
        if action in ("subscription_started", "subscription_updated", "subscription_cancelled"):
            return _subscription_event(state, event, ts, eid)
        if action == "refund":
            return SEEN_BILLING
        if action == "payment_failed" or action in _RESOLVING:
            invoice = state.payments.setdefault(event.invoice_id or "", [-1])
            if action == "payment_failed":
                invoice.append(ts)
            else:
                invoice[0] = max(invoice[0], ts)
        return SEEN_BILLING | FACET_PAYMENTS

    def _survey(self, state: AccountState, event: SurveyResponse, day: int, eid: int) -> int:
        ts = micros(event.occurred_at)
        current = state.nps.get(event.respondent_id)
        if current is None or (ts, eid) > (current[0], current[1]):
            role = ROLES.index(event.role) if event.role is not None else -1
            state.nps[event.respondent_id] = [ts, eid, day, event.score, role]
        return SEEN_FEEDBACK | FACET_NPS

    def _profile(self, state: AccountState, event: AccountProfile, eid: int) -> int:
        ts = micros(event.occurred_at)
        for field in _PROFILE_FIELDS:
            value = getattr(event, field)
            if value is not None:
                lww(state.profile, field, ts, eid, value)
        return SEEN_PROFILE | FACET_PROFILE


def _subscription_event(state: AccountState, event: BillingEvent, ts: int, eid: int) -> int:
    """A subscription started, updated or cancelled; the facets it touched."""
    touched = SEEN_BILLING | FACET_SUBSCRIPTION
    record_trial(state, event, ts, eid)
    if event.subscription_id is not None:
        if event.action != "subscription_cancelled":
            _subscription_facts(state, event, ts, eid, status=False)
        if fold_subscription(state, event, ts, eid):
            touched |= FACET_PAYMENTS
    elif event.action == "subscription_cancelled":
        lww(state.billing, "status", ts, eid, "cancelled")
    else:
        _subscription_facts(state, event, ts, eid)
    _seats_since(state)
    return touched


def _subscription_facts(
    state: AccountState, event: BillingEvent, ts: int, eid: int, *, status: bool = True
) -> None:
    """What a started or updated subscription says, each fact latest-wins (MRR, seats and
    status are aggregates over subscriptions when the event names one)."""
    aggregated = event.subscription_id is not None
    if event.action == "subscription_started":  # a notice older than this is another term's
        lww(state.billing, "started", ts, eid, True)
    for field in _SUBSCRIPTION_FIELDS:
        if aggregated and field in ("mrr", "seats_purchased"):
            continue
        value = getattr(event, field)
        if value is not None:
            lww(state.billing, field, ts, eid, value)
    if event.renewal_date is not None:
        _renewal(state, ts, eid, event.renewal_date.toordinal())
    if event.cancel_at is not None:
        lww(state.billing, "cancel_at_us", ts, eid, micros(event.cancel_at))
        if event.cancel_scheduled is None:
            lww(state.billing, "cancel_scheduled", ts, eid, True)
    if status and (event.action == "subscription_started" or (event.mrr or 0) > 0):
        # an update says the account pays only with revenue in it: a stray update after a
        # cancellation (a seat count, a note) brings no one back
        lww(state.billing, "status", ts, eid, "active")


def _seats_since(state: AccountState) -> None:
    """Since when the seats purchased have been what they are: a full snapshot repeating
    the count (every update) does not move it, a change does (``days_at_seats``)."""
    seats = state.billing.get("seats_purchased")
    if seats is None:
        return
    since = state.billing.get("seats_since")
    if since is None or since[2] != seats[2]:
        state.billing["seats_since"] = [seats[0], seats[1], seats[2]]


def _first_event(state: AccountState, occurred_us: int, day: int) -> None:
    """Keep the account's earliest event time; when a late event moves the first day
    earlier, what reads that day (``observed_days``, the provisional health) is stale."""
    first = state.first_us
    if first >= 0 and occurred_us >= first:
        return
    if first >= 0 and from_micros(first).toordinal() > day:
        state.memo.pop("observed_days", None)
        state.health_memo = None
    state.first_us = occurred_us


def _renewal(state: AccountState, ts: int, eid: int, renewal_day: int) -> None:
    """The renewal date, latest-wins, and since when it has been the renewal date: an
    update repeating the date (a full subscription snapshot after a seat change) must not
    shorten the term the date was announced with."""
    lww(state.billing, "renewal_day", ts, eid, renewal_day)
    if state.billing["renewal_day"][2] != renewal_day:
        return
    since = state.billing.get("renewal_since")
    if since is None or since[2] != renewal_day or (ts, eid) < (since[0], since[1]):
        state.billing["renewal_since"] = [ts, eid, renewal_day]


def _late_message(occurred: datetime, now: datetime, config: SignalsConfig) -> str:
    late_by = (now - config.lateness_bound) - occurred
    return (
        f"occurred at {occurred.isoformat()}, {late_by} beyond the lateness bound of "
        f"{config.lateness_bound} (now {now.isoformat()})"
    )


def _remember_id(state: AccountState, fingerprint: int, day: int, capacity: int) -> bool:
    """Record an event id on its day; False when that day already had it (a duplicate)."""
    applied = state.dedup.get(day)
    if applied is None:
        applied = state.dedup[day] = set()
    elif fingerprint in applied:
        return False
    applied.add(fingerprint)
    if sum(map(len, state.dedup.values())) > capacity:
        _evict_oldest(state, capacity)
    return True


def _evict_oldest(state: AccountState, capacity: int) -> None:
    """Bounded memory: forget the ids of the oldest day (at least) until under capacity."""
    while sum(map(len, state.dedup.values())) > capacity:
        del state.dedup[min(state.dedup)]
