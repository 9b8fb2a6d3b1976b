"""The merchant's webhooks: which events an endpoint takes, how its deliveries are retried, when it
is disabled, and the API's use cases (docs/notify-webhooks.md).

A merchant registers an HTTPS endpoint and the ``message.*`` event types it wants. Each event of a
subscribed type becomes one *delivery* per webhook (committed with the event, ``enqueue`` in
``store/webhooks.py``), POSTed by the worker (``domain/webhook_worker.py``) as Standard Webhooks
(``webhook-id`` = the delivery id, the same on every retry, so the receiver can deduplicate).

Retries: a delivery is attempted at the offsets of ``RETRY_SCHEDULE`` after the previous failure
(immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.5 hours, "a day");
any answer but 2xx, a timeout, a refused connection or an address the SSRF guard refuses is a failure.
A delivery whose last attempt failed is ``failed`` (exhausted). Disabling: a webhook whose last
``DISABLE_AFTER`` deliveries in a row were exhausted — so it has failed every attempt for at least a
day — is disabled, and its pending deliveries are cancelled; ``enable`` turns it back on (events from
then on are delivered again; cancelled ones are not replayed). One 2xx resets the count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from services.notify.providers.ssrf import UnsafeUrl
from services.runtime.errors import InvalidArgument, NotFound, RateLimited, ViolationCollector
from services.runtime.paging import Page

EVENT_TYPES = (
    "message.sent",
    "message.delivered",
    "message.opened",
    "message.clicked",
    "message.failed",
    "message.suppressed",
    "message.converted",
)
"""The event types a webhook may subscribe to."""

RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
"""Seconds before each attempt: the first at once, each later one after the previous failure."""

DISABLE_AFTER = 3
"""Exhausted deliveries in a row (no 2xx in between) that disable a webhook."""

LOG_RETENTION_DAYS = 30
"""How long a finished delivery (delivered, failed, cancelled) stays in the log with its attempts."""

MAX_WEBHOOKS = 20
"""Webhooks a tenant may have: each event fans out to every subscribed one."""

DISABLED_BY_FAILURES = "failing"
DISABLED_BY_FAILURES_TEXT = "every delivery failed for a day"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An event as the message pipeline hands it over, in the transaction that records it."""

    event_id: str
    type: str
    occurred_at: datetime
    payload: Mapping[str, Any]


def delivery_body(event: WebhookEvent) -> str:
    """The JSON a receiver gets (Standard Webhooks payload convention): ``type``, ``timestamp``,
    ``data``. Stored as text so that every retry signs and sends the very same bytes."""
    body = {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": dict(event.payload)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as the API shows it (never its secret)."""

    webhook_id: uuid.UUID
    url: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt of a delivery: the status code answered, or the error (timeout, refused)."""

    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery of one event to one webhook, with its attempts (the delivery log)."""

    delivery_id: uuid.UUID
    event_id: str
    event_type: str
    status: str
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    attempts: tuple[Attempt, ...]


class WebhookStore(Protocol):
    """Webhooks and their delivery log, for the calling tenant."""

    async def create(
        self,
        tenant_id: uuid.UUID,
        webhook_id: uuid.UUID,
        url: str,
        events: Sequence[str],
        secret: str,
        now: datetime,
        max_webhooks: int,
    ) -> Webhook | None:
        """Store a new enabled webhook with its secret sealed; None when the tenant has ``max_webhooks``."""
        ...

    async def page(self, tenant_id: uuid.UUID, cursor: str, limit: int) -> Page[Webhook]:
        """The tenant's webhooks, oldest first."""
        ...

    async def get(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None: ...

    async def delete(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
        """Delete the webhook with its deliveries; False when there is none."""
        ...

    async def enable(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None:
        """Enable the webhook again, its failure count at zero; None when there is none."""
        ...

    async def deliveries(
        self, tenant_id: uuid.UUID, webhook_id: uuid.UUID, cursor: str, limit: int
    ) -> Page[Delivery] | None:
        """The webhook's deliveries, newest first, with their attempts; None when there is no webhook."""
        ...


class UrlGuard(Protocol):
    """The SSRF guard (``providers/ssrf.py``)."""

    def check_syntax(self, url: str) -> str | None: ...

    async def check(self, url: str) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def known_webhook(webhook_id: str) -> uuid.UUID:
    """The id as a UUID; an id that is not one is simply not found (as another tenant's)."""
    try:
        return uuid.UUID(webhook_id)
    except ValueError:
        raise NotFound(f"webhook {webhook_id!r} not found") from None


def event_faults(events: Sequence[str], violations: ViolationCollector) -> None:
    """Each unknown or repeated event type, named by its index (``events[1]``)."""
    if not events:
        violations.add("events", "must name at least one event type")
    seen: set[str] = set()
    for index, event in enumerate(events):
        if event not in EVENT_TYPES:
            violations.add(f"events[{index}]", f"must be one of {', '.join(EVENT_TYPES)}")
        elif event in seen:
            violations.add(f"events[{index}]", "is listed twice")
        seen.add(event)


class Webhooks:
    """The webhook use cases of the API."""

    def __init__(
        self,
        store: WebhookStore,
        guard: UrlGuard,
        new_secret: Callable[[], str],
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._guard = guard
        self._new_secret = new_secret
        self._clock = clock

    async def create(self, tenant_id: uuid.UUID, url: str, events: Sequence[str]) -> tuple[Webhook, str]:
        """Register an endpoint; the webhook and its secret, which is shown this once.

        InvalidArgument naming ``url`` (malformed, or resolving to an address the guard refuses) and
        ``events[i]``; RateLimited past ``MAX_WEBHOOKS``."""
        violations = ViolationCollector()
        fault = self._guard.check_syntax(url)
        if fault is not None:
            violations.add("url", fault)
        event_faults(events, violations)
        violations.raise_if_any()
        try:
            await self._guard.check(url)
        except UnsafeUrl as refusal:
            raise InvalidArgument.single("url", f"is refused: {refusal}") from None
        secret = self._new_secret()
        webhook = await self._store.create(
            tenant_id, uuid.uuid4(), url, list(events), secret, self._clock(), MAX_WEBHOOKS
        )
        if webhook is None:
            raise RateLimited(f"a tenant has at most {MAX_WEBHOOKS} webhooks; delete one first")
        return webhook, secret

    async def page(self, tenant_id: uuid.UUID, cursor: str, limit: int) -> Page[Webhook]:
        """The tenant's webhooks, oldest first."""
        return await self._store.page(tenant_id, cursor, limit)

    async def get(self, tenant_id: uuid.UUID, webhook_id: str) -> Webhook:
        """One webhook; NotFound for an unknown or another tenant's id."""
        webhook = await self._store.get(tenant_id, known_webhook(webhook_id))
        if webhook is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return webhook

    async def delete(self, tenant_id: uuid.UUID, webhook_id: str) -> None:
        """Delete the webhook, its pending deliveries and its log; NotFound as ``get``."""
        if not await self._store.delete(tenant_id, known_webhook(webhook_id)):
            raise NotFound(f"webhook {webhook_id!r} not found")

    async def enable(self, tenant_id: uuid.UUID, webhook_id: str) -> Webhook:
        """Turn a disabled webhook back on (the merchant fixed the endpoint); NotFound as ``get``."""
        webhook = await self._store.enable(tenant_id, known_webhook(webhook_id))
        if webhook is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return webhook

    async def deliveries(
        self, tenant_id: uuid.UUID, webhook_id: str, cursor: str, limit: int
    ) -> Page[Delivery]:
        """The delivery log, newest first; NotFound as ``get``."""
        page = await self._store.deliveries(tenant_id, known_webhook(webhook_id), cursor, limit)
        if page is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return page
