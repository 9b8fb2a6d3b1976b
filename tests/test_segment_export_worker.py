"""The export worker and its store on a fresh migrated scoring database, with profile replaced by a
fake that can fail, stall or be cancelled: progress advances batch by batch; a batch written twice,
a worker cancelled mid-batch or one that lost its lease leave no duplicate and no missing row; the
limits, expiry, prune and retries hold.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.errors import Conflict, NotFound, RateLimited, Unavailable
from services.scoring.domain.segments.export_worker import (
    LEASE,
    MAX_ATTEMPTS,
    ExportWorker,
    MaskedContact,
)
from services.scoring.domain.segments.exports import (
    MAX_ACTIVE_EXPORTS,
    RECORD_RETENTION,
    SegmentExport,
    SegmentExports,
)
from services.scoring.store.segment_export_jobs import SqlExportJobs
from services.scoring.store.segment_exports import SqlSegmentExports
from tests.support import PostgresServer

START = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class FakeProfile:
    """Masked contacts for every id but the ``gone`` ones (erased or merged in profile); can fail a
    given number of calls, or stall a call until released."""

    def __init__(self, gone: Sequence[uuid.UUID] = ()) -> None:
        self.gone = set(gone)
        self.calls: list[list[uuid.UUID]] = []
        self.failures = 0
        self.stall_call: int | None = None
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def masked(self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]) -> list[MaskedContact]:
        self.calls.append(list(customer_ids))
        if self.failures:
            self.failures -= 1
            raise Unavailable("profile answered UNAVAILABLE for the members' contacts")
        if self.stall_call == len(self.calls):
            self.stalled.set()
            await self.release.wait()
        return [contact(c) for c in customer_ids if c not in self.gone]


def contact(customer_id: uuid.UUID) -> MaskedContact:
    tail = customer_id.int % 10_000
    return MaskedContact(customer_id, f"+86 138****{tail:04d}", f"=***@{tail}.example.com")


@pytest.fixture(scope="module")
async def database(postgres: PostgresServer) -> AsyncIterator[tuple[Database, str]]:
    name = f"patron_test_exports_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url)
        database = Database(create_engine(url, application_name="segment-export-test"))
        yield database, url
        await database.dispose()
    finally:
        await postgres.drop_database(name)


async def seed_segment(
    url: str, tenant_id: uuid.UUID, members: int, *, version: int = 1
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A tenant (when new), a saved segment and ``members`` members in scoring's tables, written
    directly (saved segments are not reachable through the API on this branch)."""
    segment_id = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(members)]
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
            "VALUES ($1, 't', 'Asia/Shanghai', 'CNY', 'CN') ON CONFLICT DO NOTHING",
            tenant_id,
        )
        await connection.execute(
            "INSERT INTO segments (tenant_id, segment_id, name, condition, version, created_at, updated_at) "
            "VALUES ($1, $2, $3, '{}', $4, now(), now())",
            tenant_id,
            segment_id,
            f"segment {segment_id}",
            version,
        )
        await connection.executemany(
            "INSERT INTO segment_members (tenant_id, segment_id, customer_id, entered_at, version) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(tenant_id, segment_id, c, START - timedelta(minutes=n), version) for n, c in enumerate(ids)],
        )
    finally:
        await connection.close()
    return segment_id, sorted(ids)


async def execute(url: str, statement: str, *args: object) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


def parts(
    database: Database, profile: FakeProfile, clock: Clock, batch: int = 3
) -> tuple[SegmentExports, ExportWorker, SqlExportJobs]:
    jobs = SqlExportJobs(database)
    worker = ExportWorker(jobs, profile, clock, batch_size=batch, slice_length=timedelta(hours=1))
    return SegmentExports(SqlSegmentExports(database), clock), worker, jobs


async def file_of(exports: SegmentExports, tenant: uuid.UUID, export: SegmentExport) -> list[list[str]]:
    chunks = exports.read(tenant, str(export.segment_id), str(export.export_id))
    text = "".join([chunk async for chunk in chunks])
    return list(csv.reader(io.StringIO(text, newline="")))


def expected_rows(ids: Sequence[uuid.UUID], gone: Sequence[uuid.UUID] = ()) -> list[list[str]]:
    return [
        [str(c), "", f"'{contact(c).phone}", f"'{contact(c).email}"] for c in sorted(ids) if c not in gone
    ]


def without_times(rows: list[list[str]]) -> list[list[str]]:
    return [[row[0], "", row[2], row[3]] for row in rows[1:]]


async def finish(worker: ExportWorker) -> None:
    while await worker.work_once():
        pass


async def test_progress_advances_batch_by_batch_and_the_file_holds_each_live_member_once(
    database: tuple[Database, str],
) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, ids = await seed_segment(url, tenant, 7, version=4)
    profile, clock = FakeProfile(gone=[ids[2]]), Clock()
    exports, worker, jobs = parts(db, profile, clock)

    started = await exports.start(tenant, str(segment))
    assert (started.status, started.done, started.total, started.segment_version) == ("queued", 0, 7, 4)
    job = await jobs.claim(worker.owner, clock(), clock() + LEASE)
    assert job is not None
    seen = []
    while job is not None and job.done < job.total:
        job = await worker.step(job)
        state = await exports.get(tenant, str(segment), str(started.export_id))
        seen.append((state.status, state.done, state.rows))
    assert seen == [("running", 3, 2), ("running", 6, 5), ("done", 7, 6)]
    assert [len(call) for call in profile.calls] == [3, 3, 1]

    done = await exports.get(tenant, str(segment), str(started.export_id))
    assert done.finished_at == clock()
    assert done.expires_at == clock() + timedelta(hours=24)
    rows = await file_of(exports, tenant, done)
    assert rows[0] == ["customer_id", "entered_at", "phone", "email"]
    assert without_times(rows) == expected_rows(ids, gone=[ids[2]])
    assert all(row[1].endswith("Z") for row in rows[1:])


async def test_a_batch_written_twice_is_refused_and_changes_nothing(database: tuple[Database, str]) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, ids = await seed_segment(url, tenant, 5)
    profile, clock = FakeProfile(), Clock()
    exports, worker, jobs = parts(db, profile, clock)
    started = await exports.start(tenant, str(segment))
    job = await jobs.claim(worker.owner, clock(), clock() + LEASE)
    assert job is not None

    advanced = await worker.step(job)
    assert advanced is not None
    assert advanced.done == 3
    assert await worker.step(job) is None  # the same batch again: the guard refuses it
    state = await exports.get(tenant, str(segment), str(started.export_id))
    assert (state.done, state.rows) == (3, 3)

    final = await worker.step(advanced)
    assert final is not None
    assert final.done == 5
    assert await worker.step(advanced) is None
    rows = await file_of(exports, tenant, state)
    assert without_times(rows) == expected_rows(ids)


async def test_a_worker_cancelled_mid_batch_leaves_it_whole_to_the_next_worker(
    database: tuple[Database, str],
) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, ids = await seed_segment(url, tenant, 8)
    profile, clock = FakeProfile(gone=[ids[4]]), Clock()
    profile.stall_call = 2
    exports, first, _ = parts(db, profile, clock)
    _, second, _ = parts(db, profile, clock)
    started = await exports.start(tenant, str(segment))

    crashed = asyncio.create_task(first.work_once())
    await asyncio.wait_for(profile.stalled.wait(), 10)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    state = await exports.get(tenant, str(segment), str(started.export_id))
    assert (state.status, state.done) == ("running", 3)

    assert not await second.work_once()  # the dead worker's lease still holds
    clock.advance(LEASE)
    await finish(second)
    done = await exports.get(tenant, str(segment), str(started.export_id))
    assert (done.status, done.done, done.rows) == ("done", 8, 7)
    rows = await file_of(exports, tenant, done)
    assert without_times(rows) == expected_rows(ids, gone=[ids[4]])


async def test_a_worker_that_lost_its_lease_writes_nothing(database: tuple[Database, str]) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, ids = await seed_segment(url, tenant, 4)
    profile, clock = FakeProfile(), Clock()
    exports, slow, jobs = parts(db, profile, clock)
    _, fast, _ = parts(db, profile, clock)
    started = await exports.start(tenant, str(segment))

    stalled = await jobs.claim(slow.owner, clock(), clock() + LEASE)
    assert stalled is not None
    members = await jobs.members(stalled, 3)
    contacts = await profile.masked(tenant, members)
    clock.advance(LEASE)
    await finish(fast)
    now = clock()
    assert not await jobs.commit_batch(stalled, members, contacts[:1], now + LEASE, now, now)
    done = await exports.get(tenant, str(segment), str(started.export_id))
    assert (done.status, done.done, done.rows) == ("done", 4, 4)
    assert without_times(await file_of(exports, tenant, done)) == expected_rows(ids)


async def test_concurrent_claims_take_different_exports(database: tuple[Database, str]) -> None:
    db, url = database
    tenant = uuid.uuid4()
    profile, clock = FakeProfile(), Clock()
    exports, a, jobs = parts(db, profile, clock)
    _, b, _ = parts(db, profile, clock)
    for _ in range(2):
        segment, _ids = await seed_segment(url, tenant, 2)
        await exports.start(tenant, str(segment))
    first, second = await asyncio.gather(
        jobs.claim(a.owner, clock(), clock() + LEASE), jobs.claim(b.owner, clock(), clock() + LEASE)
    )
    assert first is not None
    assert second is not None
    assert first.export_id != second.export_id
    for worker, job in ((a, first), (b, second)):
        done = await worker.step(job)
        assert done is not None
        assert done.done == done.total == 2


async def test_a_tenant_has_at_most_three_exports_queued_or_running(database: tuple[Database, str]) -> None:
    db, url = database
    tenant, other = uuid.uuid4(), uuid.uuid4()
    profile, clock = FakeProfile(), Clock()
    exports, worker, _ = parts(db, profile, clock)
    segment, _ids = await seed_segment(url, tenant, 2)
    outcomes = await asyncio.gather(
        *(exports.start(tenant, str(segment)) for _ in range(MAX_ACTIVE_EXPORTS + 2)), return_exceptions=True
    )
    assert sum(isinstance(o, SegmentExport) for o in outcomes) == MAX_ACTIVE_EXPORTS
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(refused) == 2
    assert refused[0].retry_after_seconds == 60
    assert "at once is 3" in refused[0].message

    foreign, _ = await seed_segment(url, other, 1)
    assert (await exports.start(other, str(foreign))).status == "queued"  # another tenant's own quota
    with pytest.raises(NotFound):
        await exports.start(other, str(segment))  # the first tenant's segment
    await finish(worker)
    assert (await exports.start(tenant, str(segment))).status == "queued"  # the quota came back
    await finish(worker)


async def test_an_empty_segment_is_done_at_once_and_a_missing_one_is_not_found(
    database: tuple[Database, str],
) -> None:
    db, url = database
    tenant = uuid.uuid4()
    profile, clock = FakeProfile(), Clock()
    exports, _, _ = parts(db, profile, clock)
    empty, _ = await seed_segment(url, tenant, 0)
    done = await exports.start(tenant, str(empty))
    assert (done.status, done.total, done.expires_at) == ("done", 0, clock() + timedelta(hours=24))
    assert await file_of(exports, tenant, done) == [["customer_id", "entered_at", "phone", "email"]]

    for segment in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(NotFound):
            await exports.start(tenant, segment)
    with pytest.raises(NotFound):
        await exports.get(tenant, str(empty), str(uuid.uuid4()))
    with pytest.raises(NotFound):
        await exports.get(uuid.uuid4(), str(empty), str(done.export_id))

    large, _ = await seed_segment(url, tenant, 3)
    with pytest.raises(Conflict) as too_large:
        await SqlSegmentExports(db).start(
            tenant, large, uuid.uuid4(), clock(), clock(), MAX_ACTIVE_EXPORTS, max_members=2
        )
    assert too_large.value.reason == "EXPORT_TOO_LARGE"


async def test_the_file_is_refused_until_done_and_after_expiry_then_pruned_and_forgotten(
    database: tuple[Database, str],
) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, _ids = await seed_segment(url, tenant, 4)
    profile, clock = FakeProfile(), Clock()
    exports, worker, _ = parts(db, profile, clock)
    started = await exports.start(tenant, str(segment))
    with pytest.raises(Conflict) as not_ready:
        await file_of(exports, tenant, started)
    assert not_ready.value.reason == "EXPORT_NOT_READY"
    await finish(worker)
    assert len(await file_of(exports, tenant, started)) == 5

    clock.advance(timedelta(hours=24))
    assert (await exports.get(tenant, str(segment), str(started.export_id))).status == "expired"
    with pytest.raises(Conflict) as expired:
        await file_of(exports, tenant, started)
    assert expired.value.reason == "EXPORT_EXPIRED"
    assert await worker.prune() >= 4
    assert (await exports.get(tenant, str(segment), str(started.export_id))).status == "expired"
    clock.advance(RECORD_RETENTION)
    await worker.prune()
    with pytest.raises(NotFound):
        await exports.get(tenant, str(segment), str(started.export_id))


async def test_members_erased_since_leave_a_done_file_and_a_deleted_segment_takes_its_exports(
    database: tuple[Database, str],
) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, ids = await seed_segment(url, tenant, 3)
    profile, clock = FakeProfile(), Clock()
    exports, worker, _ = parts(db, profile, clock)
    started = await exports.start(tenant, str(segment))
    await finish(worker)
    await execute(
        url,
        "INSERT INTO customers (tenant_id, customer_id, created_at, erased_at) VALUES ($1, $2, now(), now())",
        tenant,
        ids[1],
    )
    assert without_times(await file_of(exports, tenant, started)) == expected_rows(ids, gone=[ids[1]])

    await execute(url, "UPDATE segments SET deleted_at = now() WHERE segment_id = $1", segment)
    with pytest.raises(NotFound):
        await exports.get(tenant, str(segment), str(started.export_id))
    with pytest.raises(NotFound):
        await file_of(exports, tenant, started)
    assert await worker.prune() >= 3


async def test_a_failing_profile_is_retried_with_backoff_then_fails_the_export(
    database: tuple[Database, str],
) -> None:
    db, url = database
    tenant = uuid.uuid4()
    segment, _ids = await seed_segment(url, tenant, 2)
    profile, clock = FakeProfile(), Clock()
    exports, worker, _ = parts(db, profile, clock)
    started = await exports.start(tenant, str(segment))

    profile.failures = 1
    assert await worker.work_once()
    state = await exports.get(tenant, str(segment), str(started.export_id))
    assert (state.status, state.done, state.error) == (
        "running",
        0,
        "profile answered UNAVAILABLE for the members' contacts",
    )
    assert not await worker.work_once()  # backing off for 5 s
    clock.advance(timedelta(seconds=5))
    await finish(worker)
    state = await exports.get(tenant, str(segment), str(started.export_id))
    assert (state.status, state.done, state.error) == ("done", 2, None)

    other, _ = await seed_segment(url, tenant, 2)
    doomed = await exports.start(tenant, str(other))
    profile.failures = MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        assert await worker.work_once()
        clock.advance(timedelta(minutes=5))
    failed = await exports.get(tenant, str(other), str(doomed.export_id))
    assert (failed.status, failed.done) == ("failed", 0)
    assert failed.error == "profile answered UNAVAILABLE for the members' contacts"
    with pytest.raises(Conflict) as refused:
        await file_of(exports, tenant, failed)
    assert refused.value.reason == "EXPORT_FAILED"
    assert not await worker.work_once()
