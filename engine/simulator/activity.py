"""One account's day: its persona script rendered into dated messages for every input topic.

Users come and go as the script's pool share says; each user is active on a
day with a chance set by their own propensity, the persona's activity and the
calendar. Ticket lifecycles run over the following days, so a day can yield
messages dated later; the generator keeps them until their time comes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.simulator import product
from engine.simulator.personas import Milestone, Script
from engine.simulator.population import Account
from engine.simulator.rhythm import activity_factor, instant_in, is_workday, office_instant
from engine.simulator.shapes import Message, Shapes
from engine.simulator.truth import AccountTruth
from topics.catalogue import TopicKind

BASE_DAILY_CHANCE = 0.12
"""Chance that an ordinary user of a healthy account signs in on an ordinary Monday."""

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Draft:
    """A message dated `at`, for the topic `kind`, under the Kafka key `key`."""

    at: datetime
    kind: TopicKind
    key: str
    message: Message
    user_id: str | None = None
    """The user behind a usage event, so that their Segment `group` call can precede it."""


@dataclass(frozen=True)
class _User:
    user_id: str
    propensity: float


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact, and fast for the small means simulated here."""
    if mean <= 0:
        return 0
    limit, count, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        count += 1
        p *= rng.random()
    return count


class AccountActivity:
    """Renders one account's script day by day; keeps only the state the next day needs."""

    def __init__(
        self, account: Account, script: Script, start: date, user_only_share: float
    ) -> None:
        self.account = account
        self.script = script
        self.start = start
        self.user_only_share = user_only_share
        self.shapes = Shapes(account)
        self.rng = account.rng("activity")
        self.features = self.rng.sample(product.CORE_FEATURES, len(product.CORE_FEATURES))
        self.feature_weights = [1 / (rank + 1) for rank in range(len(self.features))]
        self.users: list[_User] = []
        self.linked: set[str] = set()
        self.renewal_date = script.renewal_date
        self.tickets_opened = 0

    @property
    def account_id(self) -> str:
        return self.account.account_id

    def truth(self) -> AccountTruth:
        """Persona, segment, plan, seats, MRR and when it cancelled (or None)."""
        return AccountTruth(
            persona=self.account.persona,
            segment=self.account.segment,
            plan=self.account.plan.name,
            seats=self.account.seats,
            mrr=self.account.mrr,
            cancelled_at=self.script.cancelled_at,
        )

    # -- the day ----------------------------------------------------------------------------

    def day(self, index: int) -> list[Draft]:
        """Every message this account originates on day `index` (some dated later)."""
        drafts = list(self._day(index))
        if self.account.segment_shape:
            drafts += self._group_calls(drafts)
        return drafts

    def _day(self, index: int) -> Iterator[Draft]:
        script, today = self.script, self.start + timedelta(days=index)
        if index == script.first_day:
            yield from self._opening(today)
        for milestone in script.milestones.get(index, ()):
            yield from self._milestone(index, today, milestone)
        if not script.active_on(index):
            return
        yield from self._billing_calendar(index, today)
        yield from self._usage(index, today)
        yield from self._tickets(index, today)

    def _group_calls(self, drafts: list[Draft]) -> list[Draft]:
        """A `group` call just before each new user's first event, as Segment's SDKs send it."""
        first_seen: dict[str, datetime] = {}
        for draft in drafts:
            if draft.user_id is not None and draft.user_id not in self.linked:
                first_seen[draft.user_id] = min(draft.at, first_seen.get(draft.user_id, draft.at))
        calls = []
        for user_id, at in first_seen.items():
            self.linked.add(user_id)
            linked_at = at - timedelta(seconds=2)
            key, message = self.shapes.group(linked_at, user_id)
            calls.append(self._draft(TopicKind.USAGE, message, linked_at, key))
        return calls

    def _at(self, day: date) -> datetime:
        return office_instant(self.rng, day, self.account.utc_offset_hours)

    def _local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC) - timedelta(
            hours=self.account.utc_offset_hours
        )

    def _opening(self, today: date) -> Iterator[Draft]:
        """The CRM profile and the subscription as they stand when the account enters the stream."""
        account, script = self.account, self.script
        at = max(self._local_midnight(today), datetime.combine(today, time(), tzinfo=UTC))
        days_left = (self.renewal_date - today).days
        stage = (
            "renewal"
            if script.lifecycle_stage == "adopted" and days_left <= 90
            else script.lifecycle_stage
        )
        yield self._draft(
            TopicKind.ACCOUNTS,
            self.shapes.profile(
                at,
                name=account.name,
                segment=account.segment,
                csm_owner=account.csm_owner,
                acv=account.acv,
                lifecycle_stage=stage,
                executive_sponsor=account.executive_sponsor,
            ),
            at,
        )
        action = (
            "subscription_started" if script.lifecycle_stage == "trial" else "subscription_updated"
        )
        at += timedelta(seconds=1)
        message = self.shapes.subscription(at, action, self.renewal_date, account.seats)
        yield self._draft(TopicKind.BILLING, message, at)
        self._grow_pool(script.first_day, announce=False)

    # -- milestones -------------------------------------------------------------------------

    def _milestone(self, index: int, today: date, milestone: Milestone) -> Iterator[Draft]:
        kind, detail = milestone.kind, milestone.detail
        if kind == "ticket":
            yield from self._ticket(index, today, detail["priority"])
        elif kind == "cancel":
            at = detail["at"]
            message = self.shapes.subscription(
                at, "subscription_cancelled", None, self.account.seats
            )
            yield self._draft(TopicKind.BILLING, message, at)
        elif kind == "nps":
            user = self._user(detail["n"])
            at = self._at(today)
            score, role = detail["score"], detail["role"]
            yield self._draft(
                TopicKind.FEEDBACK, self.shapes.survey(at, user.user_id, score, role), at
            )
        elif kind == "profile":
            at = self._at(today)
            yield self._draft(TopicKind.ACCOUNTS, self.shapes.profile(at, **detail), at)
        elif kind in ("payment_failed", "payment_recovered"):
            invoice_day = self.start + timedelta(days=detail["invoice_day"])
            at = self._at(today)
            message = self.shapes.invoice(at, kind, self._invoice_id(invoice_day), self.account.mrr)
            yield self._draft(TopicKind.BILLING, message, at)
        else:
            name = {
                "business_review": product.BUSINESS_REVIEW,
                "training": product.TRAINING,
                "referral": product.REFERRAL,
                "trial_started": product.TRIAL_STARTED,
                "trial_ended": product.TRIAL_ENDED,
            }[kind]
            user = self._user(detail.get("n", 0))
            yield from self._track(self._at(today), user, name, {})

    # -- billing ----------------------------------------------------------------------------

    def _invoice_id(self, day: date) -> str:
        return f"in_{self.account.account_id.replace('-', '')}_{day:%Y%m%d}"

    def _billing_calendar(self, index: int, today: date) -> Iterator[Draft]:
        """Monthly invoices on the renewal day of the month, renewals, the renewal season."""
        account = self.account
        failed = index in self.script.failed_invoice_days
        if account.plan.seat_price and (failed or today.day == min(self.renewal_date.day, 28)):
            action = "payment_failed" if failed else "invoice_paid"
            at = self._at(today)
            message = self.shapes.invoice(at, action, self._invoice_id(today), account.mrr)
            yield self._draft(TopicKind.BILLING, message, at)
        if self.script.lifecycle_stage == "trial":
            return
        if today == self.renewal_date - timedelta(days=90):
            at = self._at(today)
            yield self._draft(
                TopicKind.ACCOUNTS, self.shapes.profile(at, lifecycle_stage="renewal"), at
            )
        if today == self.renewal_date:
            self.renewal_date = self.renewal_date.replace(year=self.renewal_date.year + 1)
            at = self._at(today)
            message = self.shapes.subscription(
                at, "subscription_updated", self.renewal_date, account.seats
            )
            yield self._draft(TopicKind.BILLING, message, at)
            at += timedelta(seconds=2)
            yield self._draft(
                TopicKind.ACCOUNTS, self.shapes.profile(at, lifecycle_stage="adopted"), at
            )

    # -- usage ------------------------------------------------------------------------------

    def _user(self, rank: int) -> _User:
        """The rank-th user (rank 0 is the admin who adds users and attends reviews)."""
        if not self.users:
            self._grow_pool(self.script.first_day, announce=False)
        return self.users[rank % len(self.users)]

    def _grow_pool(self, index: int, *, announce: bool) -> list[_User]:
        target = max(1, round(self.script.pool_share(index) * self.account.seats))
        added = []
        while len(self.users) < target:
            user = _User(f"usr-{self.rng.getrandbits(48):012x}", self.rng.uniform(0.3, 1.0))
            self.users.append(user)
            added.append(user)
        return added if announce else []

    def _track(
        self, at: datetime, user: _User | None, name: str, properties: dict[str, Any]
    ) -> Iterator[Draft]:
        """A usage event by `user`, or by the product itself when there is no user."""
        if user is None:
            key, message = self.shapes.usage(at, name, None, properties)
            yield self._draft(TopicKind.USAGE, message, at, key)
            return
        user_only = self.account.segment_shape and self.rng.random() < self.user_only_share
        key, message = self.shapes.usage(at, name, user.user_id, properties, user_only=user_only)
        yield Draft(at, TopicKind.USAGE, key, message, user.user_id)

    def _usage(self, index: int, today: date) -> Iterator[Draft]:
        script, rng = self.script, self.rng
        calendar = activity_factor(today)
        admin = self._user(0)
        for user in self._grow_pool(index, announce=index > self.script.first_day):
            yield from self._track(
                self._at(today), admin, product.USER_ADDED, {"user_id": user.user_id}
            )
        chance = BASE_DAILY_CHANCE * script.activity(index) * calendar
        features = self.features[: script.breadth(index)]
        weights = self.feature_weights[: len(features)]
        for user in self.users[: max(1, round(script.pool_share(index) * self.account.seats))]:
            if rng.random() >= chance * user.propensity:
                continue
            at = self._at(today)
            yield from self._track(at, user, product.LOGIN, {})
            for _ in range(1 + (rng.random() < 0.5)):
                at += timedelta(seconds=rng.randrange(30, 1200))
                feature = rng.choices(features, weights)[0]
                yield from self._track(
                    at, user, product.FEATURE_USED, {product.FEATURE_PROPERTY: feature}
                )
        for _ in range(poisson(rng, script.premium_attempts_per_day(index) * calendar)):
            feature = rng.choice(product.PREMIUM_FEATURES)
            user = rng.choice(self.users)
            yield from self._track(
                self._at(today), user, product.PREMIUM_ATTEMPT, {"feature": feature}
            )
        for name, mean in (
            (product.REFERRAL, script.referrals_per_day(index)),
            (product.COMMUNITY_POST, script.community_posts_per_day(index)),
        ):
            for _ in range(poisson(rng, mean * calendar)):
                yield from self._track(self._at(today), rng.choice(self.users[:3]), name, {})
        yield from self._system_gauges(index, today)

    def _system_gauges(self, index: int, today: date) -> Iterator[Draft]:
        """Daily API call totals and data-volume readings, sent by the product, not a user."""
        account, script, rng = self.account, self.script, self.rng
        midnight = self._local_midnight(today)
        if account.uses_api:
            busy = 1.0 if is_workday(today) else 0.3
            calls = account.plan.api_calls_per_day_limit * script.api_share(index) * busy
            count = round(calls * rng.uniform(0.9, 1.03))
            at = instant_in(rng, midnight + timedelta(hours=23), midnight + _DAY)
            yield from self._track(at, None, product.API_CALLS, {product.API_COUNT_PROPERTY: count})
        if script.data_reported_on(today):
            gb = (
                account.plan.data_volume_limit_gb
                * script.data_share(index)
                * rng.uniform(0.98, 1.02)
            )
            at = instant_in(rng, midnight + timedelta(hours=2), midnight + timedelta(hours=3))
            yield from self._track(
                at, None, product.DATA_VOLUME, {product.DATA_VOLUME_PROPERTY: round(gb, 2)}
            )

    # -- tickets ----------------------------------------------------------------------------

    def _tickets(self, index: int, today: date) -> Iterator[Draft]:
        """New tickets at the persona's rate, more or less urgent as the persona says."""
        script, rng = self.script, self.rng
        for _ in range(poisson(rng, script.tickets_per_day(index) * activity_factor(today))):
            urgent = rng.random() < script.urgent_share(index)
            priority = rng.choice(("high", "urgent")) if urgent else rng.choice(("low", "normal"))
            yield from self._ticket(index, today, priority)

    def _ticket(self, index: int, today: date, priority: str) -> Iterator[Draft]:
        """A ticket's whole life: opened, maybe updated, solved, and maybe rated for CSAT."""
        rng, shapes = self.rng, self.shapes
        self.tickets_opened += 1
        ticket_id = f"T-{self.account.account_id}-{self.tickets_opened}"
        requester = rng.choice(self.users).user_id
        at = self._at(today)
        opened = shapes.ticket(at, ticket_id, "opened", priority, requester_id=requester)
        yield self._draft(TopicKind.TICKETS, opened, at)
        if rng.random() < 0.5:
            at += timedelta(minutes=rng.randrange(10, 600))
            yield self._draft(
                TopicKind.TICKETS, shapes.ticket(at, ticket_id, "updated", priority), at
            )
        at += timedelta(minutes=rng.randrange(60, 4 * 24 * 60))
        yield self._draft(TopicKind.TICKETS, shapes.ticket(at, ticket_id, "solved", priority), at)
        if rng.random() < 0.4:
            at += timedelta(minutes=rng.randrange(5, 24 * 60))
            csat = rng.randint(*self.script.csat_range(index))
            rated = shapes.ticket(
                at, ticket_id, "rated", priority, csat=csat, requester_id=requester
            )
            yield self._draft(TopicKind.TICKETS, rated, at)

    def _draft(
        self, kind: TopicKind, message: Message, at: datetime, key: str | None = None
    ) -> Draft:
        return Draft(at, kind, key or self.account.account_id, message)
