"""Start a fresh service database's consumers at the producers' current heads.

A test that runs a service process of its own on a new database is about that process (a crash, a
second replica), not about catching up: left at the oldest retained event, its consumers would first
read every event the session's other tests produced (parking other tenants' events), which late in
the suite takes a minute. The session's own service shows which consumers read which producer.
"""

from __future__ import annotations

import asyncpg

from tests.journey_support import postgres_url


async def start_at_the_heads(database_urls: dict[str, str], service: str, fresh_url: str) -> None:
    """Give every consumer of ``service`` (as the session's ``service`` database lists them) a
    position at its producer's current head in the database at ``fresh_url``."""
    session = await asyncpg.connect(postgres_url(database_urls[service]))
    fresh = await asyncpg.connect(postgres_url(fresh_url))
    try:
        consumers = await session.fetch("SELECT DISTINCT consumer, producer FROM consumer_positions")
        assert consumers, f"the session's {service} has no consumers yet"
        rows: list[tuple[str, int, str, int]] = []
        for producer in sorted({c["producer"] for c in consumers}):
            source = await asyncpg.connect(postgres_url(database_urls[producer]))
            try:
                heads = await source.fetch("SELECT partition, last_position FROM outbox_heads")
            finally:
                await source.close()
            rows += [
                (c["consumer"], h["partition"], producer, h["last_position"])
                for c in consumers
                if c["producer"] == producer
                for h in heads
            ]
        insert = (
            "INSERT INTO consumer_positions (consumer, partition, producer, position) VALUES ($1, $2, $3, $4)"
        )
        await fresh.executemany(insert, rows)
    finally:
        await session.close()
        await fresh.close()
