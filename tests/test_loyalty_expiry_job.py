"""The daily expiry job goes on past a tenant whose expiry fails: the others' points still expire."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime

from services.loyalty.domain.jobs import ExpiryOutcome, expire_points_forever


class _Tenants:
    """An expiry store of three tenants, the first of whose programme cannot be read."""

    def __init__(self) -> None:
        self.broken, self.others = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
        self.expired: list[uuid.UUID] = []

    async def tenants_due(self, now: datetime) -> list[tuple[uuid.UUID, str]]:
        due = [self.broken, *self.others]
        return [(tenant, "Asia/Shanghai") for tenant in due if tenant not in self.expired]

    async def expire_tenant(self, tenant_id: uuid.UUID, timezone: str, now: datetime) -> ExpiryOutcome | None:
        if tenant_id == self.broken:
            raise KeyError("earn")  # what a programme document without its earn rules raised
        self.expired.append(tenant_id)
        return ExpiryOutcome(lots=1, points=10)


async def test_a_failing_tenant_does_not_stop_the_others() -> None:
    store = _Tenants()
    job = asyncio.create_task(expire_points_forever(store, interval_seconds=0.01))
    try:
        for _ in range(100):
            if store.expired == store.others:
                break
            await asyncio.sleep(0.01)
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
    assert store.expired == store.others
