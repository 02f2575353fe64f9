"""Key users found bit-sliced, checked against the plain count they stand for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from signals.metrics.key_users import KEY_USER_MIN_DAYS, KEY_USERS, key_users
from signals.state import AccountState, DayBucket, bit_indices

LAST = 1_000
LOOKBACK = range(LAST - 69, LAST - 13)  # the 8 weeks before the last 14 whole days


def _plain(state: AccountState) -> list[int] | None:
    """Count each user's active days one by one, rank by count then digest."""
    days: dict[int, int] = {}
    for day in LOOKBACK:
        bucket = state.buckets.get(day)
        if bucket is not None:
            for index in bit_indices(bucket.users):
                days[index] = days.get(index, 0) + 1
    ranked = sorted(days, key=lambda i: (-days[i], state.user_digests[i]))[:KEY_USERS]
    return [i for i in ranked if days[i] >= KEY_USER_MIN_DAYS] or None


@settings(max_examples=150, deadline=None)
@given(
    digests=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40, unique=True),
    activity=st.data(),
)
def test_bit_sliced_counts_rank_users_as_counting_one_by_one(
    digests: list[int], activity: st.DataObject
) -> None:
    state = AccountState("acme")
    state.user_digests = digests
    # users active on about every day, every other day, ... so ties and the floor of 14
    # active days both come up
    rates = activity.draw(
        st.lists(
            st.sampled_from((0.0, 0.2, 0.25, 0.5, 1.0)),
            min_size=len(digests),
            max_size=len(digests),
        )
    )
    coin = activity.draw(st.randoms(use_true_random=False))
    for day in range(LAST - 75, LAST + 1):
        bucket = DayBucket()
        for index, rate in enumerate(rates):
            if coin.random() < rate:
                bucket.users |= 1 << index
        state.buckets[day] = bucket
    assert key_users(state, LAST) == _plain(state)


def test_a_regular_is_active_on_14_of_the_56_days_and_the_lookback_is_exact() -> None:
    state = AccountState("acme")
    state.user_digests = [7, 8, 9]
    first = LOOKBACK[0]
    for offset in range(14):  # user 0: exactly 14 days, the first of them the oldest day
        state.bucket(first + offset).users |= 1
    for offset in range(1, 14):  # user 1: 13 days
        state.bucket(first + offset).users |= 2
    for day in range(LAST - 13, LAST + 1):  # user 2: every day of the last 14 only
        state.bucket(day).users |= 4
    state.bucket(first - 1).users |= 2  # a day before the lookback does not count
    assert key_users(state, LAST) == [0]
