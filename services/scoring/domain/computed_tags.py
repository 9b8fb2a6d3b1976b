"""The tags phase of a run: write every customer's changed set of computed tags to profile.

Which tags a customer should carry is decided set-based by the store (``store.tagging``); this use
case walks the customers whose set changed since it was last written, a page at a time: it creates
the taxonomy entries profile does not have yet, replaces each customer's computed tags in profile
(concurrently, bounded by the client) and remembers what was written, so an unchanged set is never
written again and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from services.scoring.domain.runs import Run

PAGE = 500

TagSet = tuple[uuid.UUID, list[str]]  # a customer and its sorted tag keys


def split_key(key: str) -> tuple[str, str, str]:
    """(kind, group name, tag name) of a tag key ``kind/group/tag``."""
    kind, group, tag = key.split("/", 2)
    return kind, group, tag


class TagSyncSession(Protocol):
    """The tenant's wanted tag sets (computed on entry) and what was already written to profile."""

    async def changed_page(self, after: uuid.UUID | None, limit: int) -> list[TagSet]: ...
    async def known_ids(self, keys: Sequence[str]) -> dict[str, str]: ...
    async def save_page(self, created: Mapping[str, str], written: Sequence[TagSet]) -> None: ...


class TagSyncStore(Protocol):
    def session(self, tenant_id: uuid.UUID) -> AbstractAsyncContextManager[TagSyncSession]: ...


class ProfileTagWriter(Protocol):
    async def ensure(self, tenant_id: uuid.UUID, keys: Sequence[tuple[str, str, str]]) -> list[str]: ...
    async def set_computed(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_ids: Sequence[str]
    ) -> bool: ...


class Progress(Protocol):
    async def __call__(
        self, run_id: uuid.UUID, phase: str, done: int, total: int, **details: Any
    ) -> None: ...


class ComputedTagSync:
    """Writes changed tag sets to profile and reports each page to the run's progress."""

    def __init__(self, store: TagSyncStore, profile: ProfileTagWriter, progress: Progress) -> None:
        self._store = store
        self._profile = profile
        self._progress = progress

    async def sync(self, run: Run) -> int:
        """Write every changed tag set of the run's tenant; the number of customers written."""
        tenant_id = run.tenant_id
        written_total = 0
        async with self._store.session(tenant_id) as session:
            after: uuid.UUID | None = None
            while page := await session.changed_page(after, PAGE):
                after = page[-1][0]
                keys = sorted({key for _, tag_keys in page for key in tag_keys})
                known = await session.known_ids(keys)
                missing = [key for key in keys if key not in known]
                created = await self._profile.ensure(tenant_id, [split_key(k) for k in missing])
                fresh = dict(zip(missing, created, strict=True))
                known.update(fresh)
                results = await asyncio.gather(
                    *(
                        self._profile.set_computed(tenant_id, customer_id, [known[k] for k in tag_keys])
                        for customer_id, tag_keys in page
                    )
                )
                written = [tag_set for tag_set, ok in zip(page, results, strict=True) if ok]
                await session.save_page(fresh, written)
                written_total += len(written)
                await self._progress(run.run_id, "tags", written_total, written_total)
        return written_total
