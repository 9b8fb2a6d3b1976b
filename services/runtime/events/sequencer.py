"""The sequencer: gives committed outbox rows dense positions per partition, and prunes old ones.

Positions are assigned here, never at insert: a trigger queues each new outbox row in
``outbox_pending``, and the sequencer turns queued rows into ``outbox_positions`` rows. One
sequencing transaction runs at a time (it locks every head row first), and it sees only committed
rows; so when a reader sees position P of a partition, every position below P in that partition is
already committed and visible. A producer transaction that commits late simply gets a later
position: the commit-order trap cannot occur.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import Counter

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database
from services.runtime.events.signals import OUTBOX_CHANNEL, SEQUENCED_CHANNEL, Listener

logger = logging.getLogger(__name__)

SEQUENCED = Counter("patron_outbox_sequenced_total", "outbox events given a position", ["producer"])
PRUNED = Counter("patron_outbox_pruned_total", "outbox events removed by retention", ["producer"])

_LOCK_HEADS = sa.text("SELECT partition FROM outbox_heads ORDER BY partition FOR UPDATE")

# The queued rows with the lowest ids, taken as a range (id <= the batch-th smallest id) rather than
# joined to a list of ids. A join's plan, cached while the queue was nearly empty, can scan the whole
# queue once per id; in one sustained run the round passed the 10 s statement timeout three times in
# a row on three pooled connections, most likely so (the plan was not captured). Any plan of a range
# is linear in the queue, and the queue stays small (``vacuum_queue``).
_ASSIGN = sa.text(
    """
    WITH taken AS (
        DELETE FROM outbox_pending q
        WHERE q.id <= (SELECT max(id) FROM (SELECT id FROM outbox_pending ORDER BY id LIMIT :batch) first)
        RETURNING q.id, q.partition
    ), numbered AS (
        SELECT t.id, t.partition,
               h.last_position + row_number() OVER (PARTITION BY t.partition ORDER BY t.id) AS position
        FROM taken t JOIN outbox_heads h ON h.partition = t.partition
    ), placed AS (
        INSERT INTO outbox_positions (partition, position, outbox_id, sequenced_at)
        SELECT partition, position, id, now() FROM numbered
        RETURNING partition, position
    ), advanced AS (
        UPDATE outbox_heads h SET last_position = m.top, last_sequenced_at = now()
        FROM (SELECT partition, max(position) AS top, count(*) AS n FROM placed GROUP BY partition) m
        WHERE h.partition = m.partition
        RETURNING m.n
    )
    SELECT coalesce(sum(n), 0) FROM advanced
    """
)

# The positions sequenced before the retention's start form a prefix of each partition (sequencing
# rounds run one at a time, so sequenced_at grows with the position); a batch of them may be any
# subset of that prefix, and pruned_through rises to the highest position removed.
_PRUNE = sa.text(
    """
    WITH doomed AS (
        SELECT partition, position FROM outbox_positions
        WHERE sequenced_at < now() - make_interval(secs => :seconds)
        LIMIT :batch
    ), unplaced AS (
        DELETE FROM outbox_positions p USING doomed d
        WHERE p.partition = d.partition AND p.position = d.position
        RETURNING p.partition, p.position, p.outbox_id
    ), gone AS (
        DELETE FROM outbox o USING unplaced u WHERE o.id = u.outbox_id
    ), marked AS (
        UPDATE outbox_heads h SET pruned_through = greatest(h.pruned_through, m.top)
        FROM (SELECT partition, max(position) AS top, count(*) AS n FROM unplaced GROUP BY partition) m
        WHERE h.partition = m.partition
        RETURNING m.n
    )
    SELECT coalesce(sum(n), 0) FROM marked
    """
)


class Sequencer:
    """Runs in every producing process; replicas take turns through the head-row locks."""

    def __init__(
        self,
        producer: str,
        database: Database,
        listener: Listener,
        *,
        batch: int = 5000,
        retention: timedelta = timedelta(days=7),
        safety_poll_seconds: float = 1.0,
        prune_every_seconds: float = 60.0,
        coalesce_seconds: float = 0.01,
        vacuum_queue_every_seconds: float = 5.0,
    ) -> None:
        self.producer = producer
        self._database = database
        self._wake = listener.signals[OUTBOX_CHANNEL]
        self._batch = batch
        self._retention = retention
        self._poll = safety_poll_seconds
        self._prune_every = prune_every_seconds
        self._coalesce = coalesce_seconds
        self._vacuum_every = vacuum_queue_every_seconds

    async def sequence_once(self) -> int:
        """Assign positions to up to one batch of committed rows; returns how many."""
        async with self._database.transaction() as connection:
            await connection.execute(_LOCK_HEADS)
            count = int((await connection.execute(_ASSIGN, {"batch": self._batch})).scalar_one())
            if count:
                await connection.execute(sa.text("SELECT pg_notify(:c, '')"), {"c": SEQUENCED_CHANNEL})
        if count:
            SEQUENCED.labels(self.producer).inc(count)
        return count

    async def prune_once(self) -> int:
        """Remove events sequenced longer ago than the retention; returns how many."""
        total = 0
        while True:
            async with self._database.transaction() as connection:
                count = int(
                    (
                        await connection.execute(
                            _PRUNE, {"seconds": self._retention.total_seconds(), "batch": 10_000}
                        )
                    ).scalar_one()
                )
            total += count
            if count < 10_000:
                break
        if total:
            PRUNED.labels(self.producer).inc(total)
            logger.info("pruned %d events older than %s", total, self._retention)
        return total

    async def vacuum_queue(self) -> None:
        """Vacuum ``outbox_pending``, whose every row is deleted moments after its insert.

        Under sustained load the queue gathered about 700,000 dead rows a minute (42 MB at 11,000
        events/s) before autovacuum, which visits each database about once a minute, came by; every
        round's scan of the queue grew with them. A vacuum of the few pages written since the last
        one takes milliseconds and lets inserts reuse the space."""
        await self._database.maintain("VACUUM outbox_pending")

    async def _sequence_backlog(self) -> int:
        """Rounds until one takes less than a whole batch; how many rows they took together."""
        total = 0
        while (count := await self.sequence_once()) == self._batch:
            total += count
        return total + count

    async def _vacuum_queue_or_warn(self) -> None:
        try:
            await self.vacuum_queue()
        except Exception as error:  # e.g. a role that does not own the table
            raise_if_cancelled(error)
            logger.warning("vacuum of outbox_pending failed (autovacuum remains): %s", error)

    async def run(self) -> None:
        """Sequence whenever a producer commits (woken by NOTIFY), with a slow safety poll."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + self._prune_every
        next_vacuum, queue_written = loop.time() + self._vacuum_every, False
        while True:
            version = self._wake.version
            try:
                queue_written = await self._sequence_backlog() > 0 or queue_written
                if queue_written and loop.time() >= next_vacuum:
                    next_vacuum, queue_written = loop.time() + self._vacuum_every, False
                    await self._vacuum_queue_or_warn()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + self._prune_every
                    await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the sequencer outlives a database blip
                raise_if_cancelled(error)
                logger.warning("sequencer round failed: %s", error)
                await asyncio.sleep(0.5)
                continue
            if await self._wake.wait_after(version, self._poll) and self._coalesce:
                # Let commits that land together share one sequencing round (a few ms of latency
                # buy far fewer rounds at high rates).
                await asyncio.sleep(self._coalesce)
