"""A loop that retries on any error still stops when its task is cancelled."""

import asyncio
import contextlib

from services.runtime.cancellation import being_cancelled, raise_if_cancelled


async def test_a_cancellation_disguised_as_another_error_still_stops_the_loop() -> None:
    rounds = 0

    async def retrying_loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    # What SQLAlchemy's async layer can do: report the cancellation as another error.
                    raise RuntimeError("greenlet_spawn has not been called") from None
            except Exception as error:  # the retry-on-anything a background loop has
                raise_if_cancelled(error)

    task = asyncio.create_task(retrying_loop())
    await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert task.cancelled()
    assert rounds == 1
    assert not being_cancelled()
