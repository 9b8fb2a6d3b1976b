"""The consumer's fast path joins runs of one type across partitions: every event once, each
partition's order kept (``runs_across``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2
from services.runtime.events.runs import runs_across

TYPES = ("customer.created", "customer.updated", "order.paid")


def _streams(types_by_partition: list[list[str]]) -> list[list[envelope_pb2.EventEnvelope]]:
    return [
        [
            envelope_pb2.EventEnvelope(event_id=f"{partition}-{index}", type=kind, partition=partition)
            for index, kind in enumerate(kinds)
        ]
        for partition, kinds in enumerate(types_by_partition)
    ]


@given(st.lists(st.lists(st.sampled_from(TYPES), max_size=12), max_size=16))
def test_every_event_once_in_partition_order_runs_of_one_type(types_by_partition: list[list[str]]) -> None:
    streams = _streams(types_by_partition)
    runs = runs_across(streams)
    assert all(runs)
    assert all(len({e.type for e in run}) == 1 for run in runs)
    applied = [event for run in runs for event in run]
    assert sorted(e.event_id for e in applied) == sorted(e.event_id for s in streams for e in s)
    for partition, events in enumerate(streams):
        assert [e.event_id for e in applied if e.partition == partition] == [e.event_id for e in events]


def test_one_event_per_partition_becomes_one_run_per_type() -> None:
    streams = _streams([["customer.created"]] * 10 + [["order.paid"]] * 6)
    assert [len(run) for run in runs_across(streams)] == [10, 6]
