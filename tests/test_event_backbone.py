"""The event backbone on a real database: commit order, rollbacks, parking, leases, retention."""

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc, profile_events_pb2
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.events.sequencer import Sequencer
from services.runtime.events.stream import MAX_RESPONSE_BYTES
from services.runtime.server import ServiceServer
from tests import eventkit


def stub(server: ServiceServer) -> tuple[grpc.aio.Channel, envelope_pb2_grpc.EventStreamStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}")
    return channel, envelope_pb2_grpc.EventStreamStub(channel)


async def read_events(
    server: ServiceServer, partitions: list[int], count: int
) -> list[envelope_pb2.EventEnvelope]:
    """Subscribe from the start and collect ``count`` events (fails after 10 s)."""
    channel, events_stub = stub(server)
    request = envelope_pb2.SubscribeRequest(
        consumer="reader",
        partitions=[envelope_pb2.PartitionPosition(partition=p) for p in partitions],
    )
    received: list[envelope_pb2.EventEnvelope] = []
    async with channel:
        call = events_stub.Subscribe(request, timeout=10)
        async for response in call:
            received.extend(response.events)
            if len(received) >= count:
                call.cancel()
                break
    return received


async def sequenced(events_stub: envelope_pb2_grpc.EventStreamStub, partition: int, head: int) -> None:
    """Wait (up to 10 s) until the sequencer has positioned ``head`` events of ``partition``: a read
    made earlier would see a shorter window, or only a heartbeat."""
    for _ in range(200):
        heads = await events_stub.GetHeads(envelope_pb2.GetHeadsRequest(), timeout=5)
        if any(p.partition == partition and p.head >= head for p in heads.partitions):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"partition {partition} never reached position {head}")


async def test_a_transaction_that_commits_late_is_still_delivered(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    """The commit-order trap: T1 inserts first (lower id) but commits after T2; both arrive, once."""
    server, outbox, _ = producer
    tenant = uuid.uuid4()
    first, second = eventkit.customer_in_partition(1), eventkit.customer_in_partition(1)
    db = eventkit.database(event_db)
    slow = await db.engine.connect()
    slow_tx = await slow.begin()
    await outbox.append(slow, [eventkit.sample_event(tenant, first, "slow")])
    async with db.transaction() as fast:
        await outbox.append(fast, [eventkit.sample_event(tenant, second, "fast")])
    early = await read_events(server, [1], 1)
    assert [e.customer_id for e in early] == [str(second)]
    await slow_tx.commit()
    await slow.close()
    both = await read_events(server, [1], 2)
    assert [(e.customer_id, e.position) for e in both] == [(str(second), 1), (str(first), 2)]
    async with db.engine.connect() as ids:
        order = (await ids.execute(sa.text("SELECT customer_id FROM outbox ORDER BY id"))).scalars().all()
    assert [str(c) for c in order] == [str(first), str(second)], "the slow transaction did take the lower id"
    await db.dispose()


async def test_a_rolled_back_change_never_emits(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    server, outbox, _ = producer
    tenant = uuid.uuid4()
    db = eventkit.database(event_db)
    with contextlib.suppress(RuntimeError):
        async with db.transaction() as connection:
            await outbox.append(
                connection, [eventkit.sample_event(tenant, eventkit.customer_in_partition(2), "x")]
            )
            raise RuntimeError("the state change failed")
    kept = eventkit.customer_in_partition(2)
    async with db.transaction() as connection:
        await outbox.append(connection, [eventkit.sample_event(tenant, kept, "kept")])
    events = await read_events(server, [2], 1)
    assert [e.customer_id for e in events] == [str(kept)]
    assert events[0].position == 1
    await db.dispose()


async def test_a_filtered_read_walks_a_backlog_window_by_window(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    """A read looks at no more than ``max_batch`` positions of a partition: a consumer far behind,
    wanting one type of three, still gets every event of that type once, in order, and its progress
    reaches the head, without waiting for new events between windows."""
    server, outbox, _ = producer
    tenant, customer = uuid.uuid4(), eventkit.customer_in_partition(3)
    wanted: list[str] = []
    db = eventkit.database(event_db)
    async with db.transaction() as connection:
        events = []
        for index in range(70):
            if index % 3 == 0:
                wanted.append(f"w{index}")
                events.append(eventkit.sample_event(tenant, customer, f"w{index}"))
            else:
                payload = profile_events_pb2.TagChanged(tag_name=f"t{index}", applied=True)
                events.append(NewEvent(tenant, "tag.changed", customer, payload))
        await outbox.append(connection, events)
    await db.dispose()
    channel, events_stub = stub(server)
    await sequenced(events_stub, partition=3, head=70)  # a backlog: every window read is full
    request = envelope_pb2.SubscribeRequest(
        consumer="reader",
        partitions=[envelope_pb2.PartitionPosition(partition=3)],
        types=["customer.updated"],
        max_batch=8,
    )
    labels: list[str] = []
    windows: list[tuple[int, int]] = []
    async with channel:
        call = events_stub.Subscribe(request, timeout=10)
        async for response in call:
            labels.extend(e.customer_updated.changed_attributes[0] for e in response.events)
            windows.extend((p.scanned_through, p.head) for p in response.progress)
            if windows and windows[-1][0] == windows[-1][1] == 70:
                call.cancel()
                break
    assert labels == wanted
    scanned = [through for through, _ in windows]
    assert scanned[:9] == [8, 16, 24, 32, 40, 48, 56, 64, 70], "one window of 8 positions a read"


async def test_the_sequencer_vacuums_its_queue(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    """Each queued row is deleted once sequenced; the sequencer's vacuum gives the space back, so a
    round's scan of the queue does not grow with the load between autovacuum's visits."""
    server, outbox, sequencer = producer
    tenant = uuid.uuid4()
    db = eventkit.database(event_db)
    async with db.transaction() as connection:
        await outbox.append(
            connection,
            [
                eventkit.sample_event(tenant, eventkit.customer_in_partition(p % 4), str(p))
                for p in range(2000)
            ],
        )
    assert len(await read_events(server, [0, 1, 2, 3], 2000)) == 2000
    async with db.engine.connect() as connection:
        await sequencer.vacuum_queue()
        size = sa.text("SELECT pg_relation_size('outbox_pending')")
        assert (await connection.execute(size)).scalar_one() == 0
    await db.dispose()


async def test_a_poison_event_is_parked_and_the_partition_moves_on(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    server, outbox, _ = producer
    tenant = uuid.uuid4()
    customer = eventkit.customer_in_partition(0)
    db = eventkit.database(event_db)
    async with db.transaction() as connection:
        await outbox.append(
            connection,
            [eventkit.sample_event(tenant, customer, label) for label in ("ok-1", "poison", "ok-2")],
        )
    record = eventkit.recording_handler("m")

    async def handler(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
        if envelope.customer_updated.changed_attributes == ["poison"]:
            raise ValueError("cannot digest this")
        await record(connection, envelope)

    runner, channel = eventkit.consumer(event_db, f"127.0.0.1:{server.bound_port}", "poison-test", handler)
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(200):
            if len(await eventkit.count_effects(event_db)) == 2:
                break
            await asyncio.sleep(0.05)
        async with db.read() as connection:
            parked = (
                await connection.execute(sa.text("SELECT type, error, attempts FROM consumer_parked"))
            ).all()
            position = (
                await connection.execute(
                    sa.text("SELECT position FROM consumer_positions WHERE partition = 0")
                )
            ).scalar_one()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await channel.close()
    assert len(await eventkit.count_effects(event_db)) == 2
    assert [(p.type, p.attempts) for p in parked] == [("customer.updated", 3)]
    assert "cannot digest this" in parked[0].error
    assert position == 3
    await db.dispose()


async def test_an_after_apply_that_fails_parks_the_event_alone(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    """``after_apply`` fails for any transaction holding the poison event: the run rolls back, the
    poison event is retried alone and parked, the others are applied with their after_apply once."""
    server, outbox, _ = producer
    tenant = uuid.uuid4()
    customer = eventkit.customer_in_partition(0)
    db = eventkit.database(event_db)
    async with db.transaction() as connection:
        await outbox.append(
            connection,
            [eventkit.sample_event(tenant, customer, label) for label in ("ok-1", "poison", "ok-2")],
        )
    seen_after: list[str] = []

    async def after(connection: AsyncConnection, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        labels = [e.customer_updated.changed_attributes[0] for e in envelopes]
        if "poison" in labels:
            raise ValueError("after cannot digest this")
        seen_after.extend(labels)

    runner, channel = eventkit.consumer(
        event_db,
        f"127.0.0.1:{server.bound_port}",
        "after-test",
        eventkit.recording_handler("m"),
        after_apply=after,
    )
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(200):
            if len(await eventkit.count_effects(event_db)) == 2 and len(seen_after) == 2:
                break
            await asyncio.sleep(0.05)
        async with db.read() as connection:
            parked = (await connection.execute(sa.text("SELECT error, attempts FROM consumer_parked"))).all()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await channel.close()
    assert len(await eventkit.count_effects(event_db)) == 2
    assert sorted(seen_after) == ["ok-1", "ok-2"]
    assert [p.attempts for p in parked] == [3]
    assert "after cannot digest this" in parked[0].error
    await db.dispose()


async def test_replicas_share_partitions_and_take_over(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    server, outbox, _ = producer
    address = f"127.0.0.1:{server.bound_port}"
    first, first_channel = eventkit.consumer(
        event_db, address, "shared", eventkit.recording_handler("a"), member="a"
    )
    second, second_channel = eventkit.consumer(
        event_db, address, "shared", eventkit.recording_handler("b"), member="b"
    )
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    db = eventkit.database(event_db)

    async def owners() -> dict[str, int]:
        async with db.read() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT owner, count(*) FROM consumer_positions WHERE consumer = 'shared' GROUP BY owner"
                )
            )
            return {row[0]: row[1] for row in rows}

    try:
        for _ in range(100):
            if await owners() == {"a": 2, "b": 2}:
                break
            await asyncio.sleep(0.1)
        assert await owners() == {"a": 2, "b": 2}
        tasks[0].cancel()  # "a" leaves (cleanly: it releases its leases)
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[0]
        for _ in range(100):
            if await owners() == {"b": 4}:
                break
            await asyncio.sleep(0.1)
        assert await owners() == {"b": 4}
        tenant = uuid.uuid4()
        async with db.transaction() as connection:
            await outbox.append(connection, [eventkit.sample_event(tenant, uuid.uuid4()) for _ in range(40)])
        for _ in range(100):
            if len(await eventkit.count_effects(event_db)) == 40:
                break
            await asyncio.sleep(0.1)
        assert set((await eventkit.count_effects(event_db)).values()) == {1}
        assert len(await eventkit.count_effects(event_db)) == 40
    finally:
        tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[1]
        await first_channel.close()
        await second_channel.close()
        await db.dispose()


async def test_a_consumer_behind_retention_is_refused_loudly(event_db: str) -> None:
    server, outbox, sequencer = eventkit.producer_server(event_db, retention=timedelta(seconds=0))
    await server.start()
    db = eventkit.database(event_db)
    try:
        tenant = uuid.uuid4()
        customer = eventkit.customer_in_partition(3)
        async with db.transaction() as connection:
            await outbox.append(connection, [eventkit.sample_event(tenant, customer) for _ in range(5)])
        for _ in range(100):
            if await sequencer.sequence_once() == 0:
                async with db.read() as connection:
                    head = (
                        await connection.execute(
                            sa.text("SELECT last_position FROM outbox_heads WHERE partition = 3")
                        )
                    ).scalar_one()
                if head == 5:
                    break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)
        assert await sequencer.prune_once() == 5
        channel, events_stub = stub(server)
        async with channel:
            request = envelope_pb2.SubscribeRequest(
                consumer="late", partitions=[envelope_pb2.PartitionPosition(partition=3, after_position=2)]
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in events_stub.Subscribe(request, timeout=5):
                    pass
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "retained" in (caught.value.details() or "")
    finally:
        await server.stop(grace=0.5)
        await db.dispose()


async def test_subscribe_validates_its_request(producer: tuple[ServiceServer, Outbox, Sequencer]) -> None:
    server, _, _ = producer
    channel, events_stub = stub(server)
    async with channel:
        request = envelope_pb2.SubscribeRequest(
            consumer="", partitions=[envelope_pb2.PartitionPosition(partition=99)], max_batch=5000
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in events_stub.Subscribe(request, timeout=5):
                pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "partitions[0].partition" in (caught.value.details() or "")


async def test_a_batch_handler_takes_runs_of_events_in_one_call(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    server, outbox, _ = producer
    db = eventkit.database(event_db)
    tenant = uuid.uuid4()
    async with db.transaction() as connection:
        await outbox.append(connection, [eventkit.sample_event(tenant, uuid.uuid4()) for _ in range(200)])
    calls: list[int] = []
    runner, channel = eventkit.consumer(
        event_db,
        f"127.0.0.1:{server.bound_port}",
        "batched",
        eventkit.recording_handler("single"),
        batch_handler=eventkit.recording_batch_handler("batch", calls),
    )
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(200):
            if len(await eventkit.count_effects(event_db)) == 200:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await channel.close()
        await db.dispose()
    counts = await eventkit.count_effects(event_db)
    assert len(counts) == 200
    assert set(counts.values()) == {1}
    assert sum(calls) == 200
    assert len(calls) <= eventkit.PARTITIONS * 2  # runs per partition, not one call per event


async def test_a_window_of_large_events_arrives_in_responses_under_the_budget(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    """600 events with 8 KiB of properties each (4.9 MB) in one window of a 1,000-event read pass
    gRPC's 4 MiB default for a received message: the stream splits them into responses of about
    ``MAX_RESPONSE_BYTES``, and every event arrives once, in order. Without the budget the reader
    failed with RESOURCE_EXHAUSTED on the same window at every retry. Another partition's events
    are not held back behind them: the partitions take turns, and its three come in the first
    response."""
    server, outbox, _ = producer
    tenant = uuid.uuid4()
    properties = '{"note": "' + "x" * 8_000 + '"}'

    def large(partition: int, label: str, count: int) -> list[NewEvent]:
        customer = eventkit.customer_in_partition(partition)
        return [
            NewEvent(
                tenant,
                "event.recorded",
                customer,
                profile_events_pb2.EventRecorded(
                    client_event_id=f"{label}{index}", properties_json=properties
                ),
            )
            for index in range(count)
        ]

    db = eventkit.database(event_db)
    async with db.transaction() as connection:
        await outbox.append(connection, large(0, "e", 600))
        await outbox.append(connection, large(1, "s", 3))
    await db.dispose()
    channel, events_stub = stub(server)
    request = envelope_pb2.SubscribeRequest(
        consumer="reader",
        partitions=[envelope_pb2.PartitionPosition(partition=p) for p in (0, 1)],
        max_batch=1000,
    )
    ids: list[str] = []
    sizes: list[int] = []
    small: list[tuple[int, str]] = []
    async with channel:
        call = events_stub.Subscribe(request, timeout=10)
        async for response in call:
            ids.extend(e.event_recorded.client_event_id for e in response.events if e.partition == 0)
            if response.events:
                sizes.append(response.ByteSize())
            small.extend(
                (len(sizes), e.event_recorded.client_event_id) for e in response.events if e.partition == 1
            )
            if len(ids) >= 600:
                call.cancel()
                break
    assert ids == [f"e{index}" for index in range(600)]
    assert max(sizes) <= MAX_RESPONSE_BYTES + 16 * 1024, sizes
    assert small == [(1, "s0"), (1, "s1"), (1, "s2")], "in the first response with events"
