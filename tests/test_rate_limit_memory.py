"""The in-process buckets stay bounded under a flood of distinct keys without handing a drained
bucket (an account under password guessing) its tokens back."""

from __future__ import annotations

from gateway.rate_limits import Charge, LocalBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_of_addresses_forgets_them_before_the_drained_account() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock, most=100)
    account = Charge("login_account", "login_account:target", rate=1 / 3600, burst=3)
    for _ in range(3):
        assert await buckets.take([account]) is None
    assert await buckets.take([account]) is not None  # drained: one try an hour from here
    for index in range(1_000):  # one guess from each of a thousand addresses, a second apart
        clock.now += 1.0
        await buckets.take([Charge("login_address", f"login_address:{index}", rate=0.05, burst=30)])
    assert len(buckets._buckets) <= 100
    # a thousand seconds refill less than a third of one try; forgotten, it would have three again
    assert await buckets.take([account]) is not None


async def test_buckets_that_are_full_again_are_forgotten_first() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock, most=10)
    slow = Charge("login_account", "login_account:slow", rate=0.001, burst=5)
    await buckets.take([slow])
    for index in range(20):
        await buckets.take([Charge("tenant", f"tenant:{index}", rate=1_000.0, burst=10)])
        clock.now += 0.1  # each fast bucket is full again a millisecond after its take
    assert "login_account:slow" in buckets._buckets
    assert len(buckets._buckets) <= 10
