"""An account's users: a champion, regulars, occasional users and seats nobody uses.

Each user has a propensity: the chance of being active on an ordinary Monday.
The champion (the first user, usually the admin who adds others) is active
almost every workday; regulars most days; occasional users a day or two a
week; a quarter of the users hold a seat they rarely touch. Users are assigned
to 55-95% of the seats purchased. With the calendar (quiet Fridays and
weekends) this gives a healthy account's daily active users at about 20-25% of
its seats on average, 28-30% on a Monday.

People come and go: about 6% of users leave in a 240-day period and most are
replaced a few weeks later. Everything is planned up front, so the renderer
only asks who is present and how likely they are to be active today.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TURNOVER_PER_DAY = 0.00025
_KINDS = ("regular", "occasional", "dormant")
_KIND_WEIGHTS = (0.42, 0.33, 0.25)
_PROPENSITY = {"regular": (0.45, 0.85), "occasional": (0.08, 0.35), "dormant": (0.0, 0.05)}
CHAMPION_PROPENSITY = (0.75, 0.95)


@dataclass
class Member:
    """A user of the account, from the day they join until the day they leave (if they do)."""

    user_id: str
    propensity: float
    joined: int
    """Day index they join on; 0 or less: they were there before the stream began."""
    left: int | None = None
    promoted: int | None = None
    """Day index from which they carry the account (a colleague taking over from a champion)."""
    promoted_propensity: float = 0.0

    def present(self, day: int) -> bool:
        return self.joined <= day and (self.left is None or day < self.left)

    def propensity_on(self, day: int) -> float:
        if self.promoted is not None and day >= self.promoted:
            return self.promoted_propensity
        return self.propensity


def user_id(rng: random.Random) -> str:
    return f"usr-{rng.getrandbits(48):012x}"


def new_member(rng: random.Random, joined: int, kind: str | None = None) -> Member:
    """A user joining on `joined`, of a kind drawn like the rest of the team unless given."""
    kind = kind or rng.choices(_KINDS, _KIND_WEIGHTS)[0]
    return Member(user_id(rng), rng.uniform(*_PROPENSITY[kind]), joined)


def initial_roster(
    rng: random.Random, seats: int, *, joined: int = 0, fill: tuple[float, float] = (0.55, 0.95)
) -> list[Member]:
    """The champion first, then the rest of the users on the account when it enters the stream."""
    count = max(1, round(seats * rng.uniform(*fill)))
    champion = Member(user_id(rng), rng.uniform(*CHAMPION_PROPENSITY), joined)
    return [champion] + [new_member(rng, joined) for _ in range(count - 1)]


def plan_turnover(rng: random.Random, members: list[Member], first_day: int, days: int) -> None:
    """Some users (never the champion here) leave during the period; most are replaced."""
    hires = []
    for member in members[1:]:
        if rng.random() >= TURNOVER_PER_DAY * days or days - first_day < 3:
            continue
        member.left = rng.randint(first_day + 1, days - 1)
        if rng.random() < 0.8:
            hires.append(new_member(rng, member.left + rng.randint(7, 35)))
    members.extend(hires)
