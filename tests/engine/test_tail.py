"""How `pulse tail` and the demo print a trigger, or a cancellation, for a person to read."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.tail import render, render_cancellation
from tests.topics.payloads import health, trigger
from topics.models import Cancellation, PriorAlert, Trigger


def test_a_trigger_reads_as_what_who_why_and_what_to_do() -> None:
    text = render(Trigger.model_validate(trigger()))
    assert "CHURN_RISK" in text
    assert "acme  login_decline v1" in text
    assert "health 72 yellow; play: re-onboarding; owner: jane@example.com" in text
    assert "- weekly_logins_change -0.45 <= -0.4 3 ISO weeks" in text
    assert "provisional" not in text


def test_a_provisional_score_says_so_and_what_it_lacks() -> None:
    """The demo once explained a promoter ask at "health 44 red": a score on two of five
    components, which no rule acts on (the advocacy gate did not either)."""
    snapshot = health(
        score=43.75, band="red", provisional=True, missing_components=["engagement", "support"]
    )
    text = render(Trigger.model_validate(trigger(kind="advocacy", health=snapshot)))
    assert "health 44 red (provisional: engagement, support not known yet)" in text


def test_a_cancellation_reads_as_who_left_what_was_lost_and_what_pulse_said_first() -> None:
    record = Cancellation(
        cancellation_id="c1",
        account_id="acme",
        cancelled_at=datetime(2026, 12, 24, tzinfo=UTC),
        scheduled=True,
        trial=False,
        mrr=900.0,
        plan="Growth",
        csm_owner="ann",
        prior_alerts=[
            PriorAlert(
                trigger_id="t1", rule_id="gone_quiet", fired_at=datetime(2026, 11, 17, tzinfo=UTC)
            )
        ],
        horizon_days=120,
    )
    text = render_cancellation(record)
    assert "2026-12-24 00:00 CANCELLED  paid churn acme  (Growth, MRR 900, scheduled ahead)" in text
    assert "owner: ann" in text
    assert "churn-risk alerts in the 120 days before: gone_quiet 37 d before" in text
    lapse = record.model_copy(update={"trial": True, "prior_alerts": [], "mrr": None, "plan": None})
    text = render_cancellation(lapse)
    assert "trial lapse acme  (plan unknown, scheduled ahead)" in text
    assert text.endswith("days before: none")
