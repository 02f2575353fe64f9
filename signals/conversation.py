"""One conversation per account: whether a churn-risk alert pages a CSM or joins the open one.

A churn-risk alert opens a conversation; another reason within ``window`` of the last
alert joins it silently, unless its severity is higher than the conversation's, which
pages again (an escalation). The core decides with this live and in replays; `pulse
tune` applies the same function to alerts it scored with conversations off.
"""

from __future__ import annotations

from typing import NamedTuple


class Conversation(NamedTuple):
    """The open conversation: its last alert (µs; -1 for none) and its highest severity rank."""

    last_us: int = -1
    rank: int = -1


def admit(
    conversation: Conversation, now_us: int, rank: int, window_us: int
) -> Conversation | None:
    """The conversation after an alert of severity ``rank`` at ``now_us``, or None when the
    alert joins the open conversation without paging anyone."""
    is_open = conversation.last_us >= 0 and now_us < conversation.last_us + window_us
    if is_open and rank <= conversation.rank:
        return None
    return Conversation(now_us, max(rank, conversation.rank) if is_open else rank)


def is_open(conversation: Conversation, now_us: int, window_us: int) -> bool:
    return conversation.last_us >= 0 and now_us < conversation.last_us + window_us
