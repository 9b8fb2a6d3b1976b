"""Reads gathered at once fail as one, with the failure the first of them in order would give."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.concurrency import first_failure_raised


async def test_the_first_failure_in_order_is_raised_after_every_read_ended() -> None:
    ended: list[str] = []

    async def read(name: str, delay: float, failure: Exception | None = None) -> str:
        await asyncio.sleep(delay)
        ended.append(name)
        if failure is not None:
            raise failure
        return name

    with pytest.raises(LookupError):
        first_failure_raised(
            await asyncio.gather(
                read("a", 0.02, LookupError("a")), read("b", 0.0, ValueError("b")), return_exceptions=True
            )
        )
    assert sorted(ended) == ["a", "b"]  # nothing left running, no failure left unretrieved
    assert first_failure_raised(
        await asyncio.gather(read("x", 0.0), read("y", 0.0), read("z", 0.0), return_exceptions=True)
    ) == ("x", "y", "z")
