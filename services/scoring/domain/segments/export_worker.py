"""The export worker: fills an export's snapshot with masked contacts, a batch at a time.

Any replica may run workers. A worker claims one export whose lease is free (``FOR UPDATE SKIP
LOCKED`` in the store, so two workers never take the same one) and works it batch by batch:

1. the next ``EXPORT_BATCH`` members after ``done`` (the snapshot numbers them 1..total);
2. one call to profile for their masked contacts (no transaction is open meanwhile);
3. one transaction that, only if this worker still holds the lease and ``done`` is still where the
   batch began, writes the contacts, drops the members profile no longer holds as live (erased,
   merged, gone) and advances ``done`` — and on the last batch marks the export done.

So progress is visible batch by batch, and a worker that dies anywhere leaves either the whole batch
or none of it: when its lease runs out another worker resumes from the last committed ``done``, and a
batch written twice (a slow worker that lost its lease) is refused by the guard. No row can be
duplicated or lost. A worker gives an export up after ``SLICE`` so that one large export does not
hold a worker while others wait; a failing profile is retried with backoff, and after
``MAX_ATTEMPTS`` failures in a row the export fails with the reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.errors import DomainError
from services.scoring.domain.segments.exports import FILE_TTL, RECORD_RETENTION

logger = logging.getLogger(__name__)

EXPORT_BATCH = 1_000
"""Members per batch: profile's ``MAX_CONTACT_BATCH`` (``services/profile/domain/contacts.py``;
scoring may not import profile), one call and one transaction each."""

LEASE = timedelta(seconds=60)
"""How long a claim lasts without a committed batch: a dead worker's export resumes after it."""

SLICE = timedelta(seconds=10)
"""How long a worker keeps one export before giving the others a turn."""

MAX_ATTEMPTS = 10
"""Failed batches in a row before the export fails (backoff 5 s doubling to 5 min: ~20 minutes)."""

PRUNE_CHUNK = 10_000
"""Rows deleted per transaction when a file is pruned."""


@dataclass(frozen=True, slots=True)
class MaskedContact:
    """Profile's masked phone and e-mail of a live customer (None: none of that type)."""

    customer_id: uuid.UUID
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class ExportJob:
    """An export as a worker holds it."""

    tenant_id: uuid.UUID
    export_id: uuid.UUID
    owner: uuid.UUID
    done: int
    total: int
    attempts: int


class ExportJobStore(Protocol):
    """The worker's side of the export tables; every write is guarded by the lease's owner."""

    async def claim(self, owner: uuid.UUID, now: datetime, lease_until: datetime) -> ExportJob | None:
        """Lease the next export due for work (queued first, then the longest waiting), or None."""
        ...

    async def members(self, job: ExportJob, limit: int) -> list[uuid.UUID]:
        """The customer ids of the snapshot rows ``done + 1 .. done + limit``, in order."""
        ...

    async def commit_batch(
        self,
        job: ExportJob,
        members: Sequence[uuid.UUID],
        contacts: Sequence[MaskedContact],
        lease_until: datetime,
        now: datetime,
        file_expires_at: datetime,
    ) -> bool:
        """Write the contacts of ``members`` (the rows after ``job.done``, as ``members`` gave them),
        drop those without an entry, advance ``done`` (done at ``total``, expiring at
        ``file_expires_at``) and renew the lease, in one transaction; False (nothing written) when
        the lease or ``done`` moved."""
        ...

    async def release(self, job: ExportJob, not_before: datetime, attempts: int, error: str | None) -> None:
        """Give the export back, claimable from ``not_before``, with its count of failed attempts."""
        ...

    async def fail(self, job: ExportJob, now: datetime, error: str) -> None:
        """End the export as failed with ``error``."""
        ...

    async def prune(self, now: datetime, forget_before: datetime, chunk: int) -> int:
        """Expire done exports past their time and those of deleted segments, delete the rows of
        expired and failed exports ``chunk`` at a time, and forget the records that ended before
        ``forget_before``; the number of rows deleted."""
        ...


class ContactReader(Protocol):
    """Profile's masked contacts of the tenant's live customers among ``customer_ids``."""

    async def masked(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> list[MaskedContact]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    """The wait before retrying an export whose last ``attempts`` batches failed: 5 s doubling, ≤ 5 min."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 300))


class ExportWorker:
    """Claims exports and works them; ``work_once`` is one claim, ``prune`` one clean-up round."""

    def __init__(
        self,
        jobs: ExportJobStore,
        contacts: ContactReader,
        clock: Callable[[], datetime] = _utc_now,
        *,
        batch_size: int = EXPORT_BATCH,
        lease: timedelta = LEASE,
        slice_length: timedelta = SLICE,
    ) -> None:
        self._jobs = jobs
        self._contacts = contacts
        self._clock = clock
        self._batch = batch_size
        self._lease = lease
        self._slice = slice_length
        self.owner = uuid.uuid4()

    async def work_once(self) -> bool:
        """Claim one export and work it for a slice; False when none was due."""
        now = self._clock()
        job = await self._jobs.claim(self.owner, now, now + self._lease)
        if job is None:
            return False
        until = now + self._slice
        try:
            while True:
                advanced = await self.step(job)
                if advanced is None:
                    logger.info("export %s: lease lost at %d of %d", job.export_id, job.done, job.total)
                    return True
                job = advanced
                if job.done >= job.total:
                    return True
                if self._clock() >= until:
                    await self._jobs.release(job, self._clock(), 0, None)
                    return True
        except Exception as error:
            raise_if_cancelled(error)
            await self._failed(job, error)
        return True

    async def step(self, job: ExportJob) -> ExportJob | None:
        """Work the batch after ``job.done``: the job advanced, or None when the commit was refused
        (another worker holds the export now, or already wrote this batch)."""
        ids = await self._jobs.members(job, self._batch)
        if not ids and job.done < job.total:
            raise DomainError(f"the snapshot lacks members after {job.done} of {job.total}")
        contacts = await self._contacts.masked(job.tenant_id, ids) if ids else []
        now = self._clock()
        committed = await self._jobs.commit_batch(job, ids, contacts, now + self._lease, now, now + FILE_TTL)
        if not committed:
            return None
        return replace(job, done=job.done + len(ids), attempts=0)

    async def _failed(self, job: ExportJob, error: Exception) -> None:
        """Retry later with backoff, or fail the export after ``MAX_ATTEMPTS`` failures in a row."""
        attempts = job.attempts + 1
        reason = error.message if isinstance(error, DomainError) else "internal error"
        if not isinstance(error, DomainError):
            logger.exception("export %s: batch failed", job.export_id, exc_info=error)
        now = self._clock()
        if attempts >= MAX_ATTEMPTS:
            logger.warning("export %s failed after %d attempts: %s", job.export_id, attempts, reason)
            await self._jobs.fail(job, now, reason)
        else:
            await self._jobs.release(job, now + backoff(attempts), attempts, reason)

    async def prune(self) -> int:
        """One clean-up round: expire, delete expired and failed files, forget old records."""
        now = self._clock()
        return await self._jobs.prune(now, now - RECORD_RETENTION, PRUNE_CHUNK)
