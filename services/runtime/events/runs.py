"""How a consumer's fast path groups a wake-up's events: runs of one type across partitions."""

from __future__ import annotations

from collections.abc import Sequence

from patron.events.v1 import envelope_pb2

Envelope = envelope_pb2.EventEnvelope


def runs_across(streams: Sequence[Sequence[Envelope]]) -> list[list[Envelope]]:
    """The events of several partitions as runs of one type each, in the order to apply them.

    Round by round, each partition offers its next run (consecutive events of one type), and the
    offers of a type are joined into one run. Partitions are independent (a customer's events
    share one), so only the order within a partition matters: every event appears once, and a
    partition's events keep their order across and within the runs."""
    cursors = [0] * len(streams)
    runs: list[list[Envelope]] = []
    while True:
        offered: dict[str, list[Envelope]] = {}
        for index, events in enumerate(streams):
            start = cursors[index]
            if start >= len(events):
                continue
            end = start + 1
            while end < len(events) and events[end].type == events[start].type:
                end += 1
            offered.setdefault(events[start].type, []).extend(events[start:end])
            cursors[index] = end
        if not offered:
            return runs
        runs.extend(offered.values())
