"""`pulse tune`'s sweep sends each setting the alerts the core would: same-instant reasons
are admitted to a conversation in the rule set's order, as the core evaluates them."""

from __future__ import annotations

from datetime import timedelta

from engine.tune.sweep_run import conversations
from tests.evaluate.support import trigger


def test_reasons_of_one_instant_join_in_the_rule_sets_order_not_their_ids() -> None:
    # health_red (high) comes before renewal_at_risk in the rules; the core opens the
    # conversation with it, and the critical renewal escalates: both are sent. Ordered
    # by trigger id ("A-health..." after "A-renewal..." here), the critical would open
    # and the high would join, silently.
    high = trigger("A", "health_red", 10).model_copy(update={"trigger_id": "b-high"})
    critical = trigger("A", "renewal_at_risk", 10).model_copy(
        update={"trigger_id": "a-critical", "severity": "critical"}
    )
    order = {"health_red": 0, "renewal_at_risk": 1}
    sent = conversations([critical, high], timedelta(days=30), order)
    assert [t.rule_id for t in sent] == ["health_red", "renewal_at_risk"]
    # the other way round in the rule set, the high reason joins the critical one
    reverse = {"health_red": 1, "renewal_at_risk": 0}
    assert [t.rule_id for t in conversations([high, critical], timedelta(days=30), reverse)] == [
        "renewal_at_risk"
    ]


def test_a_later_reason_within_the_window_joins_and_one_after_it_is_sent() -> None:
    first = trigger("A", "gone_quiet", 0)
    joined = trigger("A", "ticket_spike", 20)
    later = trigger("A", "ticket_spike", 31)
    other = trigger("B", "gone_quiet", 20)
    order = {"gone_quiet": 0, "ticket_spike": 1}
    sent = conversations([later, joined, other, first], timedelta(days=30), order)
    assert [(t.account_id, t.fired_at) for t in sent] == [
        ("A", first.fired_at),
        ("B", other.fired_at),
        ("A", later.fired_at),
    ]
