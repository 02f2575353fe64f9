"""How `pulse tail` and the demo print a trigger for a person to read."""

from __future__ import annotations

from engine.tail import render
from tests.topics.payloads import health, trigger
from topics.models import Trigger


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
