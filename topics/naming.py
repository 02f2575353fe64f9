"""Kafka's rules for topic names, checked before a broker rejects them at runtime."""

from __future__ import annotations

import re

__all__ = ["MAX_TOPIC_NAME_CHARS", "check_topic_name"]

MAX_TOPIC_NAME_CHARS = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")


def check_topic_name(name: str) -> str:
    """Return `name` if Kafka accepts it as a topic name, else raise ValueError saying why."""
    if name in {"", ".", ".."}:
        msg = f"{name!r} is not a usable topic name"
        raise ValueError(msg)
    if len(name) > MAX_TOPIC_NAME_CHARS:
        msg = f"is {len(name)} characters, Kafka allows at most {MAX_TOPIC_NAME_CHARS}"
        raise ValueError(msg)
    if not _LEGAL.fullmatch(name):
        raise ValueError("may only contain ASCII letters, digits, '.', '_' and '-'")
    return name
