"""The gateway's gatherer (gateway.gathering): alone when quiet, together when busy, never lost.

The send here is a real coroutine that records what it was handed and holds each call until the test
lets it go, so that "busy" is exact rather than timed.
"""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.gathering import Gatherer


class HeldSend:
    """Records every send and answers each part with its double once the test releases it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[int]]] = []
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, key: str, parts: list[int]) -> list[int]:
        self.sent.append((key, list(parts)))
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [part * 2 for part in parts]


def gatherer(
    send: HeldSend, *, in_flight: int = 1, parts: int = 100, weight: int = 1_000
) -> Gatherer[int, int]:
    return Gatherer(send, max_in_flight=in_flight, max_parts=parts, max_weight=weight, weigh=lambda p: p)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_call_on_a_quiet_key_is_sent_at_once_and_alone() -> None:
    send = HeldSend()
    send.release.set()
    gathering = gatherer(send)
    assert await gathering.submit("t1", 3) == 6
    assert await gathering.submit("t1", 4) == 8
    assert send.sent == [("t1", [3]), ("t1", [4])]
    assert gathering.lanes == 0


async def test_calls_of_one_turn_go_together_and_calls_that_wait_for_a_busy_key_go_next() -> None:
    send = HeldSend()
    gathering = gatherer(send)
    first = [asyncio.create_task(gathering.submit("t1", n)) for n in (1, 2)]
    await settle()
    assert send.sent == [("t1", [1, 2])]  # arrived in one turn of the loop: one send
    later = [asyncio.create_task(gathering.submit("t1", n)) for n in range(3, 6)]
    await settle()
    assert len(send.sent) == 1  # the only slot is taken: they wait
    send.release.set()
    assert await asyncio.gather(*first, *later) == [2, 4, 6, 8, 10]
    assert send.sent == [("t1", [1, 2]), ("t1", [3, 4, 5])]
    assert gathering.lanes == 0


async def test_keys_never_share_a_send() -> None:
    send = HeldSend()
    gathering = gatherer(send)
    calls = [asyncio.create_task(gathering.submit(key, n)) for n, key in enumerate(["a", "b", "a", "b", "a"])]
    await settle()
    send.release.set()
    assert await asyncio.gather(*calls) == [0, 2, 4, 6, 8]
    assert sorted(send.sent) == [("a", [0, 2, 4]), ("b", [1, 3])]


async def test_a_batch_keeps_within_its_part_and_weight_limits() -> None:
    send = HeldSend()
    gathering = gatherer(send, parts=3, weight=10)
    calls = [asyncio.create_task(gathering.submit("t", n)) for n in (1, 2, 2, 2, 6, 5, 11)]
    await settle()
    send.release.set()
    assert await asyncio.gather(*calls) == [2, 4, 4, 4, 12, 10, 22]
    # 11 weighs more than a batch may: sent alone at once, past the lane.
    assert send.sent == [("t", [11]), ("t", [1, 2, 2]), ("t", [2, 6]), ("t", [5])]


async def test_a_caller_that_goes_away_while_waiting_is_left_out() -> None:
    send = HeldSend()
    gathering = gatherer(send)
    first = asyncio.create_task(gathering.submit("t", 1))
    await settle()
    gone = asyncio.create_task(gathering.submit("t", 2))
    kept = asyncio.create_task(gathering.submit("t", 3))
    await settle()
    gone.cancel()
    send.release.set()
    assert await first == 2
    assert await kept == 6
    assert send.sent == [("t", [1]), ("t", [3])]


async def test_a_failed_send_fails_each_of_its_callers_and_the_lane_carries_on() -> None:
    send = HeldSend()
    gathering = gatherer(send)
    calls = [asyncio.create_task(gathering.submit("t", n)) for n in (1, 2, 3)]
    await settle()
    send.fail_with = RuntimeError("service unavailable")
    send.release.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    send.fail_with = None
    assert await gathering.submit("t", 4) == 8
    assert gathering.lanes == 0


async def test_an_answer_count_that_does_not_match_fails_the_batch_rather_than_hanging() -> None:
    async def short(key: str, parts: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return [0]

    gathering: Gatherer[int, int] = Gatherer(
        short, max_in_flight=1, max_parts=10, max_weight=10, weigh=lambda p: 1
    )
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(gathering.submit("t", n) for n in range(4)), return_exceptions=True), timeout=5
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_in_flight_zero_sends_every_call_alone() -> None:
    send = HeldSend()
    gathering = gatherer(send, in_flight=0)
    calls = [asyncio.create_task(gathering.submit("t", n)) for n in range(3)]
    await settle()
    assert send.sent == [("t", [0]), ("t", [1]), ("t", [2])]
    send.release.set()
    assert await asyncio.gather(*calls) == [0, 2, 4]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        gatherer(HeldSend(), parts=0)


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 9)), min_size=1, max_size=40),
    in_flight=st.integers(0, 3),
    parts=st.integers(1, 5),
    weight=st.integers(1, 20),
)
def test_every_part_is_sent_once_in_a_batch_of_its_own_key_within_the_limits(
    calls: list[tuple[str, int]], in_flight: int, parts: int, weight: int
) -> None:
    async def scenario() -> None:
        sent: list[tuple[str, list[tuple[int, int]]]] = []

        async def send(key: str, batch: list[tuple[int, int]]) -> list[int]:
            sent.append((key, list(batch)))
            await asyncio.sleep(0)
            return [index for index, _ in batch]

        gathering: Gatherer[tuple[int, int], int] = Gatherer(
            send, max_in_flight=in_flight, max_parts=parts, max_weight=weight, weigh=lambda p: p[1]
        )
        answers = await asyncio.gather(*(gathering.submit(key, (i, w)) for i, (key, w) in enumerate(calls)))
        assert answers == list(range(len(calls)))  # each caller got its own part's answer
        sent_parts = sorted(index for _, batch in sent for index, _ in batch)
        assert sent_parts == list(range(len(calls)))  # every part sent, none twice
        for key, batch in sent:
            assert all(calls[index][0] == key for index, _ in batch)
            if len(batch) > 1:
                assert len(batch) <= parts
                assert sum(w for _, w in batch) <= weight
        assert gathering.lanes == 0

    # A loop of its own that is never made the thread's current one: asyncio.run would leave the
    # main thread with no current loop, and a later synchronous test that builds a grpc.aio channel
    # (which asks for one) would fail.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(scenario())
