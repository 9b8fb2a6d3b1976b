"""How long the consumers of profile's events take to apply what a phase stored, after the phase.

An ingest figure counts events the API accepted. The consumers (scoring's above all) apply them
afterwards, and under load they may fall behind: events the API accepted faster than the system
can apply them are a backlog, not throughput. After a batch phase the bench polls ``patron status``
(the services' gRPC ``ConsumerStatus``) until every consumer of profile is at its heads and has no
deferred work left (scoring's customers waiting for re-scoring), and reports
the wait and ``applied_events_per_s``: the phase's stored events over its duration plus that wait.
The figure is conservative, as the consumers' lag at the start of the measured window (from the
warm-up) is not credited to them.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from services.runtime.status_collect import collect
from services.runtime.status_report import resolve_addresses

POLL_SECONDS = 0.25


async def _lags(producer: str) -> dict[str, int]:
    """Each consumer's events not applied yet, plus the items of work it deferred (scoring's
    customers waiting for re-scoring): an event counts as applied when its effects are."""
    report = await collect(resolve_addresses({}, os.environ))  # where ``patron status`` looks
    return {
        c.consumer: c.head - c.position + c.deferred_pending
        for c in report.consumers
        if c.producer == producer
    }


def catch_up(events: float, duration_s: float, at_most_s: float, producer: str = "profile") -> dict[str, Any]:
    """Wait (up to ``at_most_s``) until every consumer of ``producer`` has applied everything; the
    lag each had when the phase ended, the wait, and the rate at which the system applied the
    phase's ``events`` (None when the wait ran out)."""

    async def wait() -> dict[str, Any]:
        started = time.monotonic()
        at_end = await _lags(producer)
        lags = at_end
        while any(lags.values()):
            if time.monotonic() - started > at_most_s:
                return {"lag_at_end": at_end, "waited_s": None, "applied_events_per_s": None}
            await asyncio.sleep(POLL_SECONDS)
            lags = await _lags(producer)
        waited = round(time.monotonic() - started, 2) if any(at_end.values()) else 0.0
        return {
            "lag_at_end": at_end,
            "waited_s": waited,
            "applied_events_per_s": round(events / (duration_s + waited), 1),
        }

    return asyncio.run(wait())
