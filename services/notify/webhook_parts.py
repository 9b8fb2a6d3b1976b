"""Assembly of the webhook capability: its RPCs and its delivery workers, for ``app.py``.

``WEBHOOK_WORKERS`` loops per process each claim a batch (``NotifySettings.webhook_batch``), send it
concurrently and record it; a loop that found nothing due waits ``webhook_idle_seconds``. Every
replica runs them: claims skip what another worker holds. A failed round is logged and the loop goes
on; nothing is lost, since a claim is only a lease. A prune loop deletes finished deliveries older
than ``LOG_RETENTION_DAYS`` every ``PRUNE_EVERY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from services.notify.domain.webhook_worker import WebhookWorker
from services.notify.domain.webhooks import LOG_RETENTION_DAYS, Webhooks
from services.notify.providers.signing import generate_secret
from services.notify.providers.ssrf import AddressGuard
from services.notify.providers.webhook_http import HttpWebhookSender
from services.notify.settings import NotifySettings
from services.notify.store.sealing import Sealer
from services.notify.store.webhook_queue import SqlDeliveryQueue
from services.notify.store.webhooks import SqlWebhookStore
from services.notify.transport.webhooks_servicer import webhooks_registration
from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database
from services.runtime.server import BackgroundTask, Registration, ServiceServer

logger = logging.getLogger(__name__)

WEBHOOK_WORKERS = 2
"""Worker loops per process: one records a batch while the other's requests are in flight."""

PRUNE_EVERY_SECONDS = 600.0
PRUNE_CHUNK = 5_000

LEASE_MARGIN = timedelta(seconds=30)
"""A claim outlasts the request timeout by this much, so a live worker always records in time."""


def webhook_parts(
    database: Database, settings: NotifySettings, guard: AddressGuard, box: Sealer
) -> tuple[list[Registration], list[BackgroundTask]]:
    """The WebhookService registration, the delivery worker loops and the log's prune.

    ``guard`` is the service's SSRF guard (outside development it refuses URLs resolving to
    loopback, private or link-local addresses at save time and before every request, unless their
    host is in ``webhook_allowed_hosts``); ``box`` seals the webhooks' secrets."""
    webhooks = Webhooks(SqlWebhookStore(database, box), guard, generate_secret)
    lease = timedelta(seconds=settings.webhook_timeout_seconds) + LEASE_MARGIN

    def worker_loop() -> BackgroundTask:
        async def work(_: ServiceServer) -> None:
            sender = HttpWebhookSender(guard, settings.webhook_timeout_seconds, settings.webhook_batch)
            worker = WebhookWorker(
                SqlDeliveryQueue(database, box),
                sender,
                settings.webhook_retry_seconds,
                settings.webhook_disable_after,
                batch=settings.webhook_batch,
                lease=lease,
            )
            try:
                while True:
                    try:
                        worked = await worker.work_once()
                    except Exception as error:
                        raise_if_cancelled(error)
                        logger.warning("webhook delivery round failed: %s", error)
                        worked = 0
                    if not worked:
                        await asyncio.sleep(settings.webhook_idle_seconds)
            finally:
                await sender.close()

        return work

    async def prune_loop(_: ServiceServer) -> None:
        queue = SqlDeliveryQueue(database, box)
        while True:
            try:
                before = datetime.now(UTC) - timedelta(days=LOG_RETENTION_DAYS)
                deleted = await queue.prune(before, PRUNE_CHUNK)
                if deleted:
                    logger.info("pruned %d finished webhook deliveries", deleted)
            except Exception as error:
                raise_if_cancelled(error)
                logger.warning("webhook log prune failed: %s", error)
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    workers = [worker_loop() for _ in range(WEBHOOK_WORKERS)]
    return [webhooks_registration(webhooks)], [*workers, prune_loop]
