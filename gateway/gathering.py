"""Gathering concurrent small calls of one tenant into one service call, the way a producer batches.

A storefront sends one identify or one event per shopper action, so under load the gateway holds
dozens of small calls of the same tenant at once. Sent one by one, each pays a gRPC call, a service
transaction and its round trips to PostgreSQL; that per-call cost, not the work, bounded identify and
single events. A :class:`Gatherer` keeps at most ``max_in_flight`` service calls of a key (the tenant)
outstanding. A call that finds a free slot is sent on the event loop's next turn, with the calls that
reached the gateway in the same turn, so a quiet system adds no latency but one turn; a call that
finds every slot taken waits, and when a slot frees, everything waiting (up to ``max_parts`` parts
and ``max_weight`` bytes) goes in one service call. The batch size thus follows the load with no
timer. Each caller gets its own part's answer, or the service call's failure. (Sending a call that
finds a free slot at once, alone, measured a few percent fewer identifies a second: under load many
slots then carried one call.)

A caller that goes away while waiting is dropped from the next batch; one that goes away while its
batch is out does not cancel the batch (the other callers need it), just as a service may finish a
call whose client has gone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Part = TypeVar("Part")
Answer = TypeVar("Answer")

# Sends the parts of one key together; answers one per part, in order.
Send = Callable[[str, list[Part]], Awaitable[Sequence[Answer]]]


@dataclass(slots=True)
class _Waiting(Generic[Part, Answer]):
    part: Part
    weight: int
    answer: asyncio.Future[Answer]


class _Lane(Generic[Part, Answer]):
    """One key's outstanding service calls and the parts waiting for a slot."""

    __slots__ = ("in_flight", "scheduled", "waiting")

    def __init__(self) -> None:
        self.in_flight = 0
        self.scheduled = False
        self.waiting: deque[_Waiting[Part, Answer]] = deque()


class Gatherer(Generic[Part, Answer]):
    """Sends parts of one key together while earlier sends of that key are outstanding."""

    def __init__(
        self,
        send: Send[Part, Answer],
        *,
        max_in_flight: int,
        max_parts: int,
        max_weight: int,
        weigh: Callable[[Part], int],
    ) -> None:
        """``max_in_flight`` 0 sends every part alone at once (gathering off)."""
        if max_parts < 1 or max_weight < 1 or max_in_flight < 0:
            raise ValueError("max_parts and max_weight must be positive, max_in_flight not negative")
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_parts = max_parts
        self._max_weight = max_weight
        self._weigh = weigh
        self._lanes: dict[str, _Lane[Part, Answer]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, key: str, part: Part) -> Answer:
        """The answer to ``part``, sent with the parts of ``key`` that wait beside it."""
        weight = self._weigh(part)
        if self._max_in_flight == 0 or weight > self._max_weight:
            return (await self._send(key, [part]))[0]
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        lane.waiting.append(_Waiting(part, weight, answer))
        if lane.in_flight < self._max_in_flight and not lane.scheduled:
            # A free slot: send on the loop's next turn, with whatever else arrives in this one.
            lane.scheduled = True
            loop.call_soon(self._dispatch, key, lane)
        return await answer

    def _dispatch(self, key: str, lane: _Lane[Part, Answer]) -> None:
        """Send what waits, a batch per free slot; forget the lane once it is idle."""
        lane.scheduled = False
        while lane.in_flight < self._max_in_flight and lane.waiting:
            batch = self._take(lane)
            if not batch:
                break
            lane.in_flight += 1
            task = asyncio.create_task(self._send_batch(key, lane, batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        if lane.in_flight == 0 and not lane.waiting and self._lanes.get(key) is lane:
            del self._lanes[key]

    def _take(self, lane: _Lane[Part, Answer]) -> list[_Waiting[Part, Answer]]:
        """The next batch off the lane: in arrival order, within the part and weight limits."""
        batch: list[_Waiting[Part, Answer]] = []
        weight = 0
        while lane.waiting and len(batch) < self._max_parts:
            head = lane.waiting[0]
            if head.answer.done():  # its caller went away
                lane.waiting.popleft()
                continue
            if batch and weight + head.weight > self._max_weight:
                break
            batch.append(lane.waiting.popleft())
            weight += head.weight
        return batch

    async def _send_batch(
        self, key: str, lane: _Lane[Part, Answer], batch: list[_Waiting[Part, Answer]]
    ) -> None:
        try:
            answers = await self._send(key, [w.part for w in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers to {len(batch)} parts")
        except asyncio.CancelledError:  # the gateway is shutting down
            for waiting in batch:
                waiting.answer.cancel()
            raise
        except Exception as error:  # the service call failed: every caller of the batch hears it
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
        else:
            for waiting, answer in zip(batch, answers, strict=False):
                if not waiting.answer.done():
                    waiting.answer.set_result(answer)
        finally:
            lane.in_flight -= 1
            self._dispatch(key, lane)

    @property
    def lanes(self) -> int:
        """Keys with calls outstanding or waiting (tests check that idle keys are forgotten)."""
        return len(self._lanes)
