"""Rendering a campaign's messages when they fall due.

Planning commits a campaign's messages as decisions only (who, which template, queued or deferred
until when, or suppressed why) so that a million recipients are planned set-based. Each message is
rendered when its time comes, by ``BatchPreparer`` — the code every batch send uses — with the
customer's data of that moment: nickname, tier and points, and the contact's masked form. What
cannot be rendered is suppressed with the same reasons as a single send: ``erased``,
``unknown_customer``, ``no_contact``, ``missing_data`` (the template prints a field the customer
lacks), ``template_missing``. A message whose channel is disabled waits (``later``) rather than being
lost: the operator may turn the channel back on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from services.notify.domain.message_batches import BatchPreparer, NotPrepared
from services.notify.domain.messages import SendCommand

logger = logging.getLogger(__name__)

DISABLED_CHANNEL_RETRY = timedelta(seconds=60)


@dataclass(frozen=True)
class Pending:
    """A due message waiting for its text."""

    tenant_id: uuid.UUID
    message_id: uuid.UUID
    customer_id: uuid.UUID
    template_id: uuid.UUID
    campaign_ref: str


@dataclass(frozen=True)
class RenderedText:
    message_id: uuid.UUID
    subject: str | None
    body: str
    html: str | None
    provider_template: str | None
    provider_params: Mapping[str, str]
    data: Mapping[str, str]
    contact_masked: str


class RenderQueue(Protocol):
    async def claim(self, limit: int, lease: timedelta) -> list[Pending]: ...

    async def record(
        self,
        rendered: Sequence[RenderedText],
        suppressed: Sequence[tuple[uuid.UUID, str]],
        later: Sequence[uuid.UUID],
        delay: timedelta,
    ) -> None: ...


class CampaignRenderer:
    """Rounds of claim, render, record; wakes the delivery worker when texts are ready."""

    def __init__(
        self,
        queue: RenderQueue,
        preparer: BatchPreparer,
        *,
        batch: int,
        lease: timedelta,
        idle_seconds: float,
        on_rendered: Callable[[], None] = lambda: None,
    ) -> None:
        self._queue = queue
        self._preparer = preparer
        self._batch = batch
        self._lease = lease
        self._idle = idle_seconds
        self._on_rendered = on_rendered
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due messages now (a batch was just planned)."""
        self._wake.set()

    async def run(self) -> None:
        """Rounds until cancelled; an idle renderer waits for a wake-up or ``idle_seconds``."""
        while True:
            try:
                claimed = await self.round()
            except Exception:
                logger.exception("a campaign render round failed; retrying")
                claimed = 0
            if claimed < self._batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle)

    async def round(self) -> int:
        """Render one claimed batch; how many messages were claimed."""
        pending = await self._queue.claim(self._batch, self._lease)
        if not pending:
            return 0
        by_tenant: dict[uuid.UUID, list[Pending]] = defaultdict(list)
        for item in pending:
            by_tenant[item.tenant_id].append(item)
        rendered: list[RenderedText] = []
        suppressed: list[tuple[uuid.UUID, str]] = []
        later: list[uuid.UUID] = []
        for tenant_id, items in by_tenant.items():
            commands = [
                SendCommand(i.customer_id, i.template_id, sender="campaign", sender_ref=i.campaign_ref)
                for i in items
            ]
            drafts = await self._preparer.prepare_many(tenant_id, commands)
            for item, draft in zip(items, drafts, strict=True):
                if isinstance(draft, NotPrepared):
                    if draft.reason == "channel_disabled":
                        later.append(item.message_id)
                    else:
                        suppressed.append((item.message_id, draft.reason))
                elif draft.recipient.state == "erased":
                    suppressed.append((item.message_id, "erased"))
                elif draft.recipient.contact_masked is None:
                    suppressed.append((item.message_id, "no_contact"))
                elif draft.rendered is None:
                    suppressed.append((item.message_id, "missing_data"))
                else:
                    text = draft.rendered
                    rendered.append(
                        RenderedText(
                            item.message_id,
                            text.subject,
                            text.body,
                            text.html,
                            draft.template.parts.provider_template,
                            text.provider_params,
                            {k: str(v) for k, v in draft.command.data.items()},
                            draft.recipient.contact_masked,
                        )
                    )
        await self._queue.record(rendered, suppressed, later, DISABLED_CHANNEL_RETRY)
        if rendered:
            self._on_rendered()
        return len(pending)
