"""Property: whatever the interleaving of producer transactions, commits, rollbacks and sequencing,
the stream delivers exactly the committed events, once each, in commit order per customer."""

import asyncio
import uuid
from typing import Literal

import grpc
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox, partition_of
from services.runtime.events.sequencer import Sequencer
from services.runtime.server import ServiceServer
from tests import eventkit

Action = Literal["append", "commit", "rollback", "sequence"]
CUSTOMERS = 4

steps_strategy = st.lists(
    st.tuples(st.integers(0, CUSTOMERS - 1), st.sampled_from(["append", "commit", "rollback", "sequence"])),
    min_size=1,
    max_size=40,
)


async def _heads(db: Database) -> dict[int, int]:
    async with db.read() as connection:
        rows = await connection.execute(sa.text("SELECT partition, last_position FROM outbox_heads"))
        return {row.partition: row.last_position for row in rows}


async def _run_example(
    steps: list[tuple[int, Action]], db: Database, outbox: Outbox, sequencer: Sequencer, address: str
) -> None:
    tenant = uuid.uuid4()
    # Two customers share a partition, so interleaving within one partition is exercised too.
    first = uuid.uuid4()
    second = eventkit.customer_in_partition(partition_of(first, eventkit.PARTITIONS))
    customers = [first, second, uuid.uuid4(), uuid.uuid4()]
    start = await _heads(db)
    open_tx: dict[int, tuple[AsyncConnection, AsyncTransaction, list[str]]] = {}
    committed: dict[str, list[str]] = {str(c): [] for c in customers}
    label = 0
    try:
        for customer, action in steps:
            if action == "append":
                if customer not in open_tx:
                    connection = await db.engine.connect()
                    open_tx[customer] = (connection, await connection.begin(), [])
                connection, _, pending = open_tx[customer]
                label += 1
                await outbox.append(
                    connection, [eventkit.sample_event(tenant, customers[customer], str(label))]
                )
                pending.append(str(label))
            elif action in ("commit", "rollback") and customer in open_tx:
                connection, transaction, pending = open_tx.pop(customer)
                if action == "commit":
                    await transaction.commit()
                    committed[str(customers[customer])].extend(pending)
                else:
                    await transaction.rollback()
                await connection.close()
            elif action == "sequence":
                await sequencer.sequence_once()
    finally:
        for connection, transaction, _ in open_tx.values():
            await transaction.rollback()
            await connection.close()
    while await sequencer.sequence_once():
        pass
    expected = sum(len(labels) for labels in committed.values())
    received: dict[str, list[str]] = {str(c): [] for c in customers}
    count = 0
    async with grpc.aio.insecure_channel(address) as channel:
        request = envelope_pb2.SubscribeRequest(
            consumer="property",
            partitions=[
                envelope_pb2.PartitionPosition(partition=p, after_position=a) for p, a in start.items()
            ],
        )
        call = envelope_pb2_grpc.EventStreamStub(channel).Subscribe(request, timeout=10)
        async for response in call:
            for event in response.events:
                if event.tenant_id == str(tenant):
                    received[event.customer_id].extend(event.customer_updated.changed_attributes)
                    count += 1
            if count >= expected and not response.events:
                call.cancel()
                break
    assert received == committed


async def test_delivery_matches_commits_per_customer(
    producer: tuple[ServiceServer, Outbox, Sequencer], event_db: str
) -> None:
    server, outbox, sequencer = producer
    db = eventkit.database(event_db)
    loop = asyncio.get_running_loop()
    address = f"127.0.0.1:{server.bound_port}"

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=steps_strategy)
    def check(steps: list[tuple[int, Action]]) -> None:
        future = asyncio.run_coroutine_threadsafe(_run_example(steps, db, outbox, sequencer, address), loop)
        future.result(timeout=60)

    try:
        await asyncio.to_thread(check)
    finally:
        await db.dispose()
