"""Preparing many messages at once: what journeys (and campaigns) send in a batch.

The same judgement as one ``MessageDesk.send`` (module ``messages``), paid once per batch rather than
once per message: each template and channel is read once, profile answers for up to 1,000 customers
a call, loyalty is asked only when a template prints tier or points. Rendering stays per customer —
every message is personal. The drafts are committed together by the store (``commit_drafts``),
under each customer's lock, with the same policy decision and the same dedupe rule as a single send.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.notify.domain.messages import (
    LoyaltyFacts,
    ManyRecipients,
    MessageDraft,
    MessageStore,
    RecipientFacts,
    SendCommand,
    StoredTemplate,
    draft_for,
)

LOYALTY_CONCURRENCY = 32
"""Loyalty calls in flight at once when a batch's templates print tier or points."""


@dataclass(frozen=True)
class NotPrepared:
    """Why a command has no draft: ``template_missing``, ``channel_disabled`` or ``unknown_customer``."""

    reason: str


class BatchPreparer:
    """``prepare_many``: a batch of send commands of one tenant judged and rendered."""

    def __init__(self, store: MessageStore, recipients: ManyRecipients, loyalty: LoyaltyFacts) -> None:
        self._store = store
        self._recipients = recipients
        self._loyalty = loyalty
        self._gate = asyncio.Semaphore(LOYALTY_CONCURRENCY)

    async def prepare_many(
        self, tenant_id: uuid.UUID, commands: Sequence[SendCommand]
    ) -> list[MessageDraft | NotPrepared]:
        """A draft per command, in order (or why there is none)."""
        templates: dict[uuid.UUID, StoredTemplate | None] = {}
        for template_id in dict.fromkeys(c.template_id for c in commands):
            templates[template_id] = await self._store.template(tenant_id, template_id)
        enabled: dict[str, bool] = {}
        for template in templates.values():
            if template is not None and template.channel not in enabled:
                enabled[template.channel] = await self._store.channel_enabled(tenant_id, template.channel)
        by_channel: dict[str, list[uuid.UUID]] = {}
        for command in commands:
            template = templates[command.template_id]
            if template is not None and enabled[template.channel]:
                by_channel.setdefault(template.channel, []).append(command.customer_id)
        facts = {
            channel: await self._recipients.recipients(tenant_id, customers, channel)
            for channel, customers in by_channel.items()
        }
        return list(
            await asyncio.gather(
                *(self._one(tenant_id, command, templates, enabled, facts) for command in commands)
            )
        )

    async def _one(
        self,
        tenant_id: uuid.UUID,
        command: SendCommand,
        templates: dict[uuid.UUID, StoredTemplate | None],
        enabled: dict[str, bool],
        facts: dict[str, dict[uuid.UUID, RecipientFacts]],
    ) -> MessageDraft | NotPrepared:
        template = templates[command.template_id]
        if template is None:
            return NotPrepared("template_missing")
        if not enabled[template.channel]:
            return NotPrepared("channel_disabled")
        recipient = facts[template.channel].get(command.customer_id)
        if recipient is None or recipient.state == "unknown":
            return NotPrepared("unknown_customer")
        async with self._gate:  # only a template printing tier or points waits for loyalty
            return await draft_for(tenant_id, template, command, recipient, self._loyalty)
