"""One realistic account's day: its script rendered into dated messages for every input topic.

Each user present that day is active with the chance their propensity, the
account's engagement, the script's factor for them and the calendar give; an
active user signs in and uses one to three features. The product reports API
call totals nightly and storage twice a week. Tickets follow their lifecycle
over the next days. Usage lost to a tracking outage is drawn all the same and
then dropped, so an outage changes nothing else.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from typing import Any

from engine.simulator import product
from engine.simulator.activity import Draft, poisson
from engine.simulator.personas import Milestone
from engine.simulator.realistic.accounts import Customer
from engine.simulator.realistic.billing import Billing
from engine.simulator.realistic.contract import midnight
from engine.simulator.realistic.outages import Outages
from engine.simulator.realistic.roster import Member
from engine.simulator.realistic.script import Script
from engine.simulator.rhythm import activity_factor, instant_in, is_workday, office_instant
from engine.simulator.shapes import Message, Shapes
from engine.simulator.truth import AccountTruth
from topics.catalogue import TopicKind

_DAY = timedelta(days=1)
_BILLING = frozenset(
    {
        "cancel",
        "schedule_cancel",
        "withdraw_cancel",
        "payment_failed",
        "payment_recovered",
        "purchase",
        "convert",
    }
)
_NAMED = {
    "business_review": product.BUSINESS_REVIEW,
    "training": product.TRAINING,
    "referral": product.REFERRAL,
    "trial_started": product.TRIAL_STARTED,
    "trial_ended": product.TRIAL_ENDED,
}
USER_REMOVED = "Account Removed User"


class RealisticActivity:
    """Renders one account's script day by day; keeps only the state the next day needs."""

    def __init__(
        self,
        account: Customer,
        script: Script,
        start: date,
        *,
        user_only_share: float,
        outages: Outages,
    ) -> None:
        self.account = account
        self.script = script
        self.start = start
        self.user_only_share = user_only_share
        self.outages = outages
        self.shapes = Shapes(account)
        self.rng = account.rng("activity")
        self.features = self.rng.sample(product.CORE_FEATURES, len(product.CORE_FEATURES))
        weights = [1 / (rank + 1) for rank in range(len(self.features))]
        self._cumulative = [list(accumulate(weights[:n])) for n in range(len(weights) + 1)]
        self.billing = Billing(account, script, self.shapes, self._draft)
        self.linked: set[str] = set()
        self.tickets_opened = 0
        self._joins: dict[int, list[Member]] = {}
        self._leaves: dict[int, list[Member]] = {}
        for member in script.members:
            if member.joined > script.first_day:
                self._joins.setdefault(member.joined, []).append(member)
            if member.left is not None:
                self._leaves.setdefault(member.left, []).append(member)

    @property
    def account_id(self) -> str:
        return self.account.account_id

    def truth(self) -> AccountTruth:
        account, script = self.account, self.script
        converted = script.converted_at is not None
        contract: str = "trial" if account.is_trial and not converted else script.contract
        return AccountTruth(
            persona=account.persona,
            segment=account.segment,
            plan=account.plan.name,
            seats=account.seats,
            mrr=account.mrr,
            cancelled_at=script.cancelled_at,
            details={
                "contract": contract,
                "renewal_date": account.renewal_date,
                "trial_days": account.trial_days,
                "first_day": self.start + timedelta(days=account.first_day),
                "subscription_snapshot": account.snapshot,
                "converted_at": script.converted_at,
                "expanded_at": script.expanded_at,
                "cancels_on": script.cancels_on,
            },
        )

    # -- the day ----------------------------------------------------------------------------

    def day(self, index: int) -> list[Draft]:
        """Every message this account originates on day `index` (some dated later)."""
        if index < self.script.first_day:
            return []
        drafts = list(self._day(index))
        if self.outages.hides(index, self.account.segment_shape):
            drafts = [d for d in drafts if d.kind is not TopicKind.USAGE]
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
        yield from self.billing.renewal(today)
        yield from self.billing.season(today, lambda: self._at(today))
        present = [m for m in script.members if m.present(index)]
        yield from self._roster_changes(index, today, present)
        yield from self._usage(index, today, present)
        yield from self._tickets(index, today, present)

    def _group_calls(self, drafts: list[Draft]) -> list[Draft]:
        """A `group` call just before each new user's first event, as Segment's SDKs send it.

        Events dated before the stream begins are dropped by the generator, so they
        link nobody; a link never predates the stream either.
        """
        begins = midnight(self.start)
        first_seen: dict[str, datetime] = {}
        for draft in drafts:
            user_id = draft.user_id
            if user_id is not None and user_id not in self.linked and draft.at >= begins:
                first_seen[user_id] = min(draft.at, first_seen.get(user_id, draft.at))
        calls = []
        for user_id, at in first_seen.items():
            self.linked.add(user_id)
            linked_at = max(at - timedelta(seconds=2), begins)
            key, message = self.shapes.group(linked_at, user_id, self.billing.plan)
            calls.append(Draft(linked_at, TopicKind.USAGE, key, message))
        return calls

    def _at(self, day: date) -> datetime:
        return office_instant(self.rng, day, self.account.utc_offset_hours)

    def _local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC) - timedelta(
            hours=self.account.utc_offset_hours
        )

    def _opening(self, today: date) -> Iterator[Draft]:
        """The CRM profile and the subscription as they stand when the account enters the stream."""
        account = self.account
        at = self.script.opened_at or max(self._local_midnight(today), midnight(today))
        profile = self.shapes.profile(
            at,
            name=account.name,
            segment=account.segment,
            csm_owner=account.csm_owner,
            acv=account.acv,
            lifecycle_stage=self.billing.lifecycle_stage(today),
            executive_sponsor=account.executive_sponsor,
        )
        yield self._draft(TopicKind.ACCOUNTS, profile, at)
        yield from self.billing.opening(at + timedelta(seconds=1))

    # -- milestones -------------------------------------------------------------------------

    def _milestone(self, index: int, today: date, milestone: Milestone) -> Iterator[Draft]:
        kind, detail = milestone.kind, dict(milestone.detail)
        if kind in _BILLING:
            yield from self.billing.milestone(kind, detail, lambda: self._at(today))
            return
        if kind == "profile":
            at = self._at(today)
            yield self._draft(TopicKind.ACCOUNTS, self.shapes.profile(at, **detail), at)
            return
        ranked = sorted(
            (m for m in self.script.members if m.present(index)),
            key=lambda m: -m.propensity_on(index),
        )
        if not ranked:
            return
        user = ranked[detail.get("n", 0) % len(ranked)]
        at = detail.get("at") or self._at(today)
        if kind == "nps":
            survey = self.shapes.survey(at, user.user_id, detail["score"], detail["role"])
            yield self._draft(TopicKind.FEEDBACK, survey, at)
        else:
            yield self._track(at, user, _NAMED[kind], {})

    # -- usage ------------------------------------------------------------------------------

    def _track(
        self, at: datetime, user: Member | None, name: str, properties: dict[str, Any]
    ) -> Draft:
        """A usage event by `user`, or by the product itself when there is no user."""
        if user is None:
            key, message = self.shapes.usage(at, name, None, properties)
            return Draft(at, TopicKind.USAGE, key, message)
        user_only = self.account.segment_shape and self.rng.random() < self.user_only_share
        key, message = self.shapes.usage(at, name, user.user_id, properties, user_only=user_only)
        return Draft(at, TopicKind.USAGE, key, message, user.user_id)

    def _admin(self, index: int, present: list[Member]) -> Member | None:
        return max(present, key=lambda m: m.propensity_on(index), default=None)

    def _roster_changes(self, index: int, today: date, present: list[Member]) -> Iterator[Draft]:
        """Colleagues added and removed by the account's admin."""
        admin = self._admin(index, present)
        for member in self._joins.get(index, ()):
            yield self._track(
                self._at(today), admin, product.USER_ADDED, {"user_id": member.user_id}
            )
        for member in self._leaves.get(index, ()):
            yield self._track(self._at(today), admin, USER_REMOVED, {"user_id": member.user_id})

    def _usage(self, index: int, today: date, present: list[Member]) -> Iterator[Draft]:
        script, rng = self.script, self.rng
        calendar = activity_factor(today)
        engagement = script.engagement(index) * calendar
        breadth = max(1, min(len(self.features), script.breadth(index)))
        features, cumulative = self.features[:breadth], self._cumulative[breadth]
        total = cumulative[-1]
        per_member = type(script).member_factor is not Script.member_factor
        for member in present:
            chance = member.propensity_on(index) * engagement
            if per_member:
                chance *= script.member_factor(member, index)
            if rng.random() >= min(0.97, chance):
                continue
            at = self._at(today)
            yield self._track(at, member, product.LOGIN, {})
            for _ in range(1 + (rng.random() < 0.45) + (rng.random() < 0.15)):
                at += timedelta(seconds=rng.randrange(30, 1500))
                feature = features[bisect(cumulative, rng.random() * total)]
                used = {product.FEATURE_PROPERTY: feature}
                yield self._track(at, member, product.FEATURE_USED, used)
        if not present:
            return
        for _ in range(poisson(rng, script.premium_per_day(index) * calendar)):
            feature = rng.choice(product.PREMIUM_FEATURES)
            yield self._track(
                self._at(today), rng.choice(present), product.PREMIUM_ATTEMPT, {"feature": feature}
            )
        for name, mean in (
            (product.REFERRAL, script.referrals_per_day(index)),
            (product.COMMUNITY_POST, script.community_per_day(index)),
        ):
            for _ in range(poisson(rng, mean * calendar)):
                yield self._track(self._at(today), rng.choice(present[:3]), name, {})
        yield from self._system_gauges(index, today)

    def _system_gauges(self, index: int, today: date) -> Iterator[Draft]:
        """Daily API call totals (capped by the plan's limit) and storage readings."""
        script, rng, plan = self.script, self.rng, self.billing.plan
        midnight_here = self._local_midnight(today)
        if self.account.uses_api:
            busy = 1.0 if is_workday(today) else 0.3
            wanted = script.api_calls(index) * busy * rng.uniform(0.9, 1.05)
            count = min(round(wanted), plan.api_calls_per_day_limit)
            at = instant_in(rng, midnight_here + timedelta(hours=23), midnight_here + _DAY)
            yield self._track(at, None, product.API_CALLS, {product.API_COUNT_PROPERTY: count})
        if script.data_reported_on(today):
            stored = min(script.data_gb(index), plan.data_volume_limit_gb)
            gb = round(stored * rng.uniform(0.98, 1.02), 2)
            at = instant_in(
                rng, midnight_here + timedelta(hours=2), midnight_here + timedelta(hours=3)
            )
            yield self._track(at, None, product.DATA_VOLUME, {product.DATA_VOLUME_PROPERTY: gb})

    # -- tickets ----------------------------------------------------------------------------

    def _tickets(self, index: int, today: date, present: list[Member]) -> Iterator[Draft]:
        """New tickets at the script's rate; each one's whole life, dated over the next days."""
        script, rng, shapes = self.script, self.rng, self.shapes
        if not present:
            return
        for _ in range(poisson(rng, script.tickets_per_day(index) * activity_factor(today))):
            urgent = rng.random() < script.urgent_share(index)
            priority = (
                rng.choice(("high", "urgent"))
                if urgent
                else rng.choice(("low", "normal", "normal"))
            )
            self.tickets_opened += 1
            ticket_id = f"T-{self.account.account_id}-{self.tickets_opened}"
            requester = rng.choice(present).user_id
            at = self._at(today)
            opened = shapes.ticket(at, ticket_id, "opened", priority, requester_id=requester)
            yield self._draft(TopicKind.TICKETS, opened, at)
            if rng.random() < 0.5:
                at += timedelta(minutes=rng.randrange(10, 600))
                yield self._draft(
                    TopicKind.TICKETS, shapes.ticket(at, ticket_id, "updated", priority), at
                )
            at += timedelta(minutes=rng.randrange(60, 4 * 24 * 60))
            yield self._draft(
                TopicKind.TICKETS, shapes.ticket(at, ticket_id, "solved", priority), at
            )
            if rng.random() < 0.35:
                at += timedelta(minutes=rng.randrange(5, 24 * 60))
                csat = rng.choices((1, 2, 3, 4, 5), script.csat_weights(index))[0]
                rated = shapes.ticket(
                    at, ticket_id, "rated", priority, csat=csat, requester_id=requester
                )
                yield self._draft(TopicKind.TICKETS, rated, at)

    def _draft(self, kind: TopicKind, message: Message, at: datetime) -> Draft:
        return Draft(at, kind, self.account.account_id, message)
