"""Crash tests: consumers SIGKILLed at random points, a producer SIGKILLed mid-transaction."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid

import grpc
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.events.outbox import Outbox
from services.runtime.events.sequencer import Sequencer
from services.runtime.server import ServiceServer
from tests import eventkit

EVENTS = 1500
CUSTOMERS = 40
KILLS = 6


def start_consumer(url: str, address: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.eventkit", "consume", url, address, "crashy"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_consumers_killed_at_random_apply_every_event_exactly_once(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    server, outbox, _ = producer
    address = f"127.0.0.1:{server.bound_port}"
    rng = random.Random(20261122)
    replicas = [start_consumer(event_db, address), start_consumer(event_db, address)]
    db = eventkit.database(event_db)
    tenant = uuid.uuid4()
    customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
    produced: list[uuid.UUID] = []

    async def produce() -> None:
        while len(produced) < EVENTS:
            batch = [
                eventkit.sample_event(tenant, rng.choice(customers), str(len(produced) + i))
                for i in range(min(rng.randint(1, 12), EVENTS - len(produced)))
            ]
            async with db.transaction() as connection:
                await outbox.append(connection, batch)
            produced.extend(e.event_id for e in batch)
            await asyncio.sleep(rng.uniform(0, 0.01))

    async def kill() -> None:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.1, 0.5))
            victim = rng.randrange(len(replicas))
            os.kill(replicas[victim].pid, signal.SIGKILL)
            replicas[victim].wait()
            replicas[victim] = start_consumer(event_db, address)

    try:
        await asyncio.gather(produce(), kill())
        for _ in range(600):
            counts = await eventkit.count_effects(event_db)
            if len(counts) == EVENTS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything applied twice would show up now
        counts = await eventkit.count_effects(event_db)
        assert set(counts) == set(produced), f"{EVENTS - len(counts)} events never applied"
        assert set(counts.values()) == {1}, "an event was applied more than once"
        async with db.read() as connection:
            rows = (
                await connection.execute(
                    sa.text("SELECT customer_id, position FROM effects ORDER BY applied_seq")
                )
            ).all()
        last: dict[uuid.UUID, int] = {}
        for customer, position in rows:
            assert position > last.get(customer, 0), "a customer's events were applied out of order"
            last[customer] = position
    finally:
        for replica in replicas:
            replica.kill()
            replica.wait()
        await db.dispose()


async def test_a_producer_killed_mid_transaction_emits_nothing(
    event_db: str, producer: tuple[ServiceServer, Outbox, Sequencer]
) -> None:
    server, outbox, sequencer = producer
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.eventkit", "hang", event_db, "20"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    doomed = set(line.split()[1].split(","))
    assert len(doomed) == 20
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    db = eventkit.database(event_db)
    survivor = eventkit.sample_event(uuid.uuid4(), uuid.uuid4(), "survivor")
    async with db.transaction() as connection:
        await outbox.append(connection, [survivor])
    while await sequencer.sequence_once():
        pass
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}")
    delivered: list[str] = []
    async with channel:
        request = envelope_pb2.SubscribeRequest(
            consumer="after-crash",
            partitions=[envelope_pb2.PartitionPosition(partition=p) for p in range(eventkit.PARTITIONS)],
        )
        call = envelope_pb2_grpc.EventStreamStub(channel).Subscribe(request, timeout=10)
        async for response in call:
            delivered.extend(e.event_id for e in response.events)
            if response.progress and not response.events:
                call.cancel()
                break
    assert delivered == [str(survivor.event_id)]
    async with db.read() as connection:
        left = (await connection.execute(sa.text("SELECT count(*) FROM outbox"))).scalar_one()
    assert left == 1
    await db.dispose()
