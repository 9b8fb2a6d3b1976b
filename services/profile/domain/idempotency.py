"""Idempotency keys (docs/product.md): the same key and request answer the same again, with no second effect.

A key is remembered per tenant for 24 hours. While the first request with a key runs, a repeat is
told so (it may retry); a key reused for another request is a conflict. The first request holds
the key for a short lease only (``DEFAULT_LEASE``, longer than any request the gateway runs): a
pending key whose request died (the gateway's process was killed before it could complete or
abandon it) is claimed again by a retry after the lease, instead of answering "still running" for
a day. Expired records are purged in batches by a background task of the profile service.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from services.runtime.errors import InvalidArgument

KEY_LIFETIME = timedelta(hours=24)
DEFAULT_LEASE = timedelta(seconds=60)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Outcome(enum.Enum):
    NEW = "new"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    body: bytes
    content_type: str


class IdempotencyStore(Protocol):
    async def begin(
        self, tenant_id: uuid.UUID, key: str, request_sha256: str, lifetime: timedelta, lease: timedelta
    ) -> tuple[Outcome, StoredAnswer | None]:
        """Claim a new or expired key, or a pending one whose lease ran out; else say what it is."""
        ...

    async def complete(self, tenant_id: uuid.UUID, key: str, answer: StoredAnswer) -> None: ...

    async def abandon(self, tenant_id: uuid.UUID, key: str) -> None: ...


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidArgument.single("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    return key


class IdempotencyKeys:
    def __init__(self, store: IdempotencyStore, lease: timedelta = DEFAULT_LEASE) -> None:
        self._store = store
        self._lease = lease

    async def begin(
        self, tenant_id: uuid.UUID, key: str, request_sha256: str
    ) -> tuple[Outcome, StoredAnswer | None]:
        """Claim ``key`` for this request, or say what became of it before."""
        if not _SHA256_HEX.match(request_sha256):
            raise InvalidArgument.single("request_sha256", "must be 64 lower-case hex digits")
        return await self._store.begin(tenant_id, check_key(key), request_sha256, KEY_LIFETIME, self._lease)

    async def complete(self, tenant_id: uuid.UUID, key: str, answer: StoredAnswer) -> None:
        await self._store.complete(tenant_id, check_key(key), answer)

    async def abandon(self, tenant_id: uuid.UUID, key: str) -> None:
        """Forget a claimed key whose request failed on our side, so that the client may retry."""
        await self._store.abandon(tenant_id, check_key(key))
