"""The delivery worker: due messages → profile (the clear contact, in memory only) → the channel's
provider → one transaction recording every outcome and its event.

One round claims a batch (``store/delivery_queue.py``), asks profile for the batch's contacts per
tenant and channel in one call each, sends every message concurrently (bounded by
``delivery_concurrency`` and by each provider's token bucket), and records the round. A retry waits
for the provider's ``Retry-After`` or a doubling backoff; after ``max_attempts`` the message fails
with the provider's last error. A refusal by the customer (a hard bounce, WeChat's 43101) also
suppresses that customer on the channel (WeChat: for that template only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.notify.domain.channels import ChannelConfig
from services.notify.domain.delivery import (
    Accepted,
    Failed,
    Outcome,
    Outgoing,
    Provider,
    Refused,
    Retry,
    retry_delay,
)
from services.notify.domain.links import LinkSigner, tracked_html, unsubscribe_url
from services.notify.providers.rate_limit import TokenBucket
from services.notify.settings import NotifySettings
from services.notify.store.channels import SqlChannelStore, StoredChannel
from services.notify.store.delivery_queue import (
    IDEMPOTENT_PROVIDERS,
    DeliveryQueue,
    Final,
    Results,
    Suppression,
)

logger = logging.getLogger(__name__)

ProviderBuilder = Callable[[ChannelConfig], Provider]
RateOf = Callable[[ChannelConfig], float]


class ContactSource(Protocol):
    async def reveal(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], channel: str
    ) -> Sequence[Any]: ...


CHANNEL_RECHECK_SECONDS = 5.0
"""How stale a worker's view of a channel may be: a changed or disabled channel applies within 5 s."""


@dataclass
class _Ready:
    provider: Provider
    bucket: TokenBucket
    updated_at: datetime
    checked_at: float


class ProviderPool:
    """One provider (and token bucket) per tenant and channel, rebuilt when the channel changes."""

    def __init__(self, channels: SqlChannelStore, build: ProviderBuilder, rate_of: RateOf) -> None:
        self._channels = channels
        self._build = build
        self._rate_of = rate_of
        self._ready: dict[tuple[uuid.UUID, str], _Ready] = {}
        self._lock = asyncio.Lock()

    async def get(self, tenant_id: uuid.UUID, channel: str) -> _Ready | None:
        """The channel's provider as configured now (None: not configured)."""
        ready = self._ready.get((tenant_id, channel))
        if ready is not None and time.monotonic() - ready.checked_at < CHANNEL_RECHECK_SECONDS:
            return ready
        async with self._lock:
            ready = self._ready.get((tenant_id, channel))
            if ready is not None and time.monotonic() - ready.checked_at < CHANNEL_RECHECK_SECONDS:
                return ready
            stored = await self._channels.get(tenant_id, channel)
            if stored is None or not stored.enabled:
                return None
            if ready is not None and ready.updated_at == stored.updated_at:
                ready.checked_at = time.monotonic()
                return ready
            if ready is not None:
                await ready.provider.aclose()
            config = _config(stored)
            ready = _Ready(
                self._build(config), TokenBucket(self._rate_of(config)), stored.updated_at, time.monotonic()
            )
            self._ready[(tenant_id, channel)] = ready
            return ready

    async def aclose(self) -> None:
        for ready in self._ready.values():
            await ready.provider.aclose()
        self._ready.clear()


def _config(stored: StoredChannel) -> ChannelConfig:
    return ChannelConfig(stored.channel, stored.provider, stored.settings, stored.secrets, stored.enabled)


class DeliveryWorker:
    """Runs delivery rounds until cancelled."""

    def __init__(
        self,
        queue: DeliveryQueue,
        contacts: ContactSource,
        providers: ProviderPool,
        signer: LinkSigner,
        settings: NotifySettings,
        *,
        wake: asyncio.Event | None = None,
        before_record: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._queue = queue
        self._contacts = contacts
        self._providers = providers
        self._signer = signer
        self._settings = settings
        self._base_url = settings.public_url.rstrip("/")
        self._wake = wake or asyncio.Event()
        self._slots = asyncio.Semaphore(settings.delivery_concurrency)
        self._before_record = before_record

    def wake(self) -> None:
        """Look for due messages now (a message was just committed)."""
        self._wake.set()

    async def run(self) -> None:
        """``delivery_loops`` round loops until cancelled. Several loops overlap one round's claim and
        record with another's provider calls (they share the queue like replicas: SKIP LOCKED)."""
        try:
            async with asyncio.TaskGroup() as loops:
                for _ in range(self._settings.delivery_loops):
                    loops.create_task(self._loop())
        finally:
            await self._providers.aclose()

    async def _loop(self) -> None:
        """Rounds until cancelled; an idle loop waits for a wake-up or ``delivery_idle_seconds``."""
        while True:
            try:
                claimed = await self.round()
            except Exception:
                logger.exception("a delivery round failed; retrying")
                claimed = 0
            if claimed < self._settings.delivery_batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.delivery_idle_seconds)

    async def round(self) -> int:
        """Claim, send and record one batch; answers how many messages were claimed."""
        lease = timedelta(seconds=self._settings.delivery_lease_seconds)
        rows = await self._queue.claim(self._settings.delivery_batch, lease)
        if not rows:
            return 0
        results = Results([], [], [], [])
        to_send = []
        for row in rows:
            if row.recheck:
                results.finals.append(Final(row.message_id, row.attempts, "suppressed", row.recheck))
            elif row.was_in_flight and row.provider not in IDEMPOTENT_PROVIDERS:
                error = "interrupted: a worker stopped between the provider call and its record"
                results.finals.append(Final(row.message_id, row.attempts, "failed", "outcome_unknown", error))
            else:
                to_send.append(row)
        contacts = await self._reveal(to_send)
        now = datetime.now(UTC)
        sends = []
        for row in to_send:
            contact = contacts.get((row.tenant_id, row.channel, row.customer_id))
            if contact is None or contact.contact is None:
                reason = "erased" if contact is not None and contact.state == "erased" else "no_contact"
                results.finals.append(Final(row.message_id, row.attempts, "suppressed", reason))
            else:
                sends.append(self._send(row, contact.contact, now))
        outcomes = await asyncio.gather(*sends)
        for row, outcome in outcomes:
            self._classify(row, outcome, results)
        if self._before_record is not None:
            await self._before_record()
        await self._queue.record(results, datetime.now(UTC))
        return len(rows)

    async def _reveal(self, rows: Sequence[Any]) -> dict[tuple[uuid.UUID, str, uuid.UUID], Any]:
        groups: dict[tuple[uuid.UUID, str], list[uuid.UUID]] = defaultdict(list)
        for row in rows:
            groups[(row.tenant_id, row.channel)].append(row.customer_id)
        answers = await asyncio.gather(
            *(self._contacts.reveal(tenant, ids, channel) for (tenant, channel), ids in groups.items())
        )
        found: dict[tuple[uuid.UUID, str, uuid.UUID], Any] = {}
        for (tenant, channel), reaches in zip(groups, answers, strict=True):
            for reach in reaches:
                found[(tenant, channel, reach.customer_id)] = reach
        return found

    async def _send(self, row: Any, to: str, now: datetime) -> tuple[Any, Outcome]:
        async with self._slots:
            try:
                ready = await self._providers.get(row.tenant_id, row.channel)
                if ready is None:
                    return row, Retry("the channel is no longer configured")
                await ready.bucket.acquire()
                return row, await ready.provider.send(self._outgoing(row, to, now))
            except Exception as error:  # a provider bug must not lose the round: retry the message
                logger.exception("provider raised for message %s", row.message_id)
                return row, Retry(f"provider error: {type(error).__name__}")

    def _outgoing(self, row: Any, to: str, now: datetime) -> Outgoing:
        html = row.html
        unsubscribe = None
        if row.channel == "email":
            unsubscribe = unsubscribe_url(self._signer, self._base_url, row.tenant_id, row.message_id, now)
            if html:
                html = tracked_html(html, self._signer, self._base_url, row.tenant_id, row.message_id, now)
        return Outgoing(
            message_id=str(row.message_id),
            tenant_id=str(row.tenant_id),
            channel=row.channel,
            to=to,
            body=row.body or "",
            subject=row.subject,
            html=html,
            data={k: str(v) for k, v in (row.data or {}).items()},
            provider_template=row.provider_template,
            provider_params=dict(row.provider_params or {}),
            unsubscribe_url=unsubscribe,
            idempotency_key=str(row.message_id),
        )

    def _classify(self, row: Any, outcome: Outcome, results: Results) -> None:
        if isinstance(outcome, Accepted):
            results.sent.append((row.message_id, row.attempts, outcome.provider_message_id))
        elif isinstance(outcome, Retry):
            if row.attempts >= self._settings.max_attempts:
                results.finals.append(Final(row.message_id, row.attempts, "failed", "", outcome.error))
            else:
                delay = retry_delay(
                    row.attempts, self._settings.retry_base_seconds, outcome.retry_after_seconds
                )
                results.retries.append((row.message_id, row.attempts, outcome.error, delay))
        elif isinstance(outcome, Failed):
            results.finals.append(Final(row.message_id, row.attempts, "failed", "", outcome.error))
        elif isinstance(outcome, Refused):
            results.finals.append(Final(row.message_id, row.attempts, "failed", "refused", outcome.error))
            scope = str(row.template_id) if row.channel == "wechat" else ""
            reason = "bounced" if row.channel == "email" else "refused"
            results.suppressions.append(
                Suppression(row.tenant_id, row.customer_id, row.channel, scope, reason)
            )
