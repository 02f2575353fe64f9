"""An account's several subscriptions, as the evaluator reads them from billing events:
which are live, and which are set to cancel.

Independent of ``signals.subscriptions`` on purpose (an evaluation that shared the
engine's reading could not catch it out), but the same decision: the account ends only
when its last live subscription ends, and it has given notice only when every live
subscription is set to cancel. An add-on cancelled, or set to cancel, while the main
plan goes on is a contraction, not churn. Events that name no subscription speak for
the account: one such cancellation ends it, and where no event names a subscription
they are its one subscription.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from topics.models import BillingEvent

_UNNAMED = ""


@dataclass
class Subscriptions:
    live: dict[str, bool] = field(default_factory=dict)
    """Subscription id -> live (False once it ended)."""
    notices: dict[str, datetime | None] = field(default_factory=dict)
    """Live subscriptions set to cancel -> when they end (None: the event did not say)."""

    def ended(self, event: BillingEvent) -> bool:
        """A subscription ended: True when it was the account's last live one."""
        if event.subscription_id is None:
            self.reset()
            return True
        self.live[event.subscription_id] = False
        self.notices.pop(event.subscription_id, None)
        return not any(self._live())

    def changed(self, event: BillingEvent) -> None:
        """A subscription started or updated: live, and its latest say on cancelling."""
        key = event.subscription_id or _UNNAMED
        stray = event.action == "subscription_updated" and not (event.mrr or 0) > 0
        if not (stray and event.subscription_status is None and key in self.live):
            self.live[key] = True  # an update without revenue or status keeps the last
        if event.cancel_scheduled is False or (
            event.action == "subscription_started" and event.cancel_scheduled is None
        ):
            self.notices.pop(key, None)
        if event.cancel_scheduled is True or event.cancel_at is not None:
            self.notices[key] = event.cancel_at or self.notices.get(key)

    def notice(self) -> tuple[bool, datetime | None]:
        """(every live subscription is set to cancel, when the last of them ends)."""
        live = self._live()
        ends: list[datetime | None] = []
        for key in live:  # one that never said stands by a notice naming none
            if key in self.notices or _UNNAMED in self.notices:
                ends.append(self.notices.get(key, self.notices.get(_UNNAMED)))
            else:
                return False, None
        if not ends:
            return False, None
        return True, None if None in ends else max(end for end in ends if end is not None)

    def _live(self) -> list[str]:
        """The live subscriptions that count: the named ones, once any is named."""
        named = any(key != _UNNAMED for key in self.live)
        return [key for key, on in self.live.items() if on and (key != _UNNAMED or not named)]

    def reset(self) -> None:
        """The account came back after ending: a new term."""
        self.live.clear()
        self.notices.clear()
