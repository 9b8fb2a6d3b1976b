"""The stream's responses written as wire bytes parse to what building the messages gave."""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2, profile_events_pb2
from services.runtime.events.outbox_reader import SequencedRow
from services.runtime.events.stream import within_budget
from services.runtime.events.stream_wire import positioned_event, response_bytes, varint

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


def stored_envelope(text: str, occurred_at: datetime) -> bytes:
    """An envelope as ``Outbox.append`` stores it: no partition, position or sequenced_at."""
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        tenant_id=str(uuid.uuid4()),
        type="event.recorded",
        customer_id=str(uuid.uuid4()),
        producer="profile",
        event_recorded=profile_events_pb2.EventRecorded(
            client_event_id="e-1", event_type="page_view", properties_json=text
        ),
    )
    envelope.occurred_at.FromDatetime(occurred_at)
    return envelope.SerializeToString()


@given(
    rows=st.lists(
        st.tuples(
            st.text(max_size=300),
            moments,
            st.integers(0, 15),
            st.integers(1, 2**62),
            moments,
        ),
        max_size=20,
    ),
    progress=st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 2**62), st.integers(0, 2**62)), max_size=16
    ),
)
def test_wire_bytes_parse_to_the_built_response(
    rows: list[tuple[str, datetime, int, int, datetime]], progress: list[tuple[int, int, int]]
) -> None:
    built = envelope_pb2.SubscribeResponse()
    placed = []
    for text, occurred_at, partition, position, sequenced_at in rows:
        stored = stored_envelope(text, occurred_at)
        event = built.events.add()
        event.ParseFromString(stored)
        event.partition, event.position = partition, position
        event.sequenced_at.FromDatetime(sequenced_at)
        placed.append(positioned_event(stored, partition, position, sequenced_at))
    only_progress = envelope_pb2.SubscribeResponse()
    for partition, scanned, head in progress:
        built.progress.add(partition=partition, scanned_through=scanned, head=head)
        only_progress.progress.add(partition=partition, scanned_through=scanned, head=head)
    assert envelope_pb2.SubscribeResponse.FromString(response_bytes(placed, only_progress)) == built


def test_a_sequenced_at_keeps_its_microseconds() -> None:
    moment = datetime(2026, 12, 6, 4, 0, tzinfo=UTC) + timedelta(microseconds=999_999)
    event = envelope_pb2.EventEnvelope.FromString(positioned_event(b"", 3, 7, moment))
    assert event.sequenced_at.ToDatetime(tzinfo=UTC) == moment
    assert (event.partition, event.position) == (3, 7)


@given(st.integers(1, 2**63 - 1))
def test_varint_is_protobufs(value: int) -> None:
    """The length prefix is protobuf's own encoding of the number (field 2 of a PartitionHead, tag
    0x10, is that encoding after its tag)."""
    assert envelope_pb2.PartitionHead(head=value).SerializeToString() == b"\x10" + varint(value)


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3_000)), max_size=40),
    st.integers(1, 20_000),
)
def test_a_response_keeps_within_its_budget_and_each_partition_a_prefix(
    rows_drawn: list[tuple[int, int]], budget: int
) -> None:
    """``within_budget`` sends at least one event, stops adding when the budget would be passed, and
    sends of each partition a prefix of its rows, in order; a partition cut short says its last
    position sent; the partitions take turns (the first event sent is the first partition's)."""
    at = datetime(2026, 12, 6, tzinfo=UTC)
    positions: dict[int, int] = {}
    rows = []
    for partition, size in sorted(rows_drawn, key=lambda drawn: drawn[0]):  # the reader's order
        positions[partition] = positions.get(partition, 0) + 1
        rows.append(SequencedRow(partition, positions[partition], at, b"\x12" + varint(size) + b"x" * size))
    events, cut = within_budget(rows, budget)
    if rows:
        assert events
        first = envelope_pb2.EventEnvelope.FromString(events[0])
        assert (first.partition, first.position) == (min(p for p, _ in rows_drawn), 1)
    assert sum(len(e) for e in events) <= max(budget, len(events[0]) if events else 0)
    sent = [envelope_pb2.EventEnvelope.FromString(e) for e in events]
    by_partition: dict[int, list[int]] = {}
    for event in sent:
        by_partition.setdefault(event.partition, []).append(event.position)
    for partition in {p for p, _ in rows_drawn}:
        theirs = [row.position for row in rows if row.partition == partition]
        got = by_partition.get(partition, [])
        assert got == theirs[: len(got)]
        if len(got) < len(theirs):
            assert cut[partition] == (got[-1] if got else None)
        else:
            assert partition not in cut
