"""Sending one message: what every sender (the API, journeys, campaigns) goes through.

The order is fixed so that a message is judged the same whoever sends it:

1. the request is checked (every fault names its field) and the template must be the tenant's, on a
   channel the tenant has configured and enabled;
2. a ``dedupe_key`` seen before answers with that earlier message — one send per key, ever;
3. profile says who the customer is now (a merged-away id reaches its survivor, an erased one no
   one) and which contact the channel would use, masked; loyalty gives tier and points only when the
   template prints them;
4. the template is rendered for the customer; a personal field the customer lacks suppresses the
   message with ``missing_data`` — never "Dear ,";
5. the store commits the message under the customer's lock, deciding with ``policy.decide`` on the
   facts it reads inside that lock (consent, suppressions, erasure, the cap across every channel and
   sender, quiet hours) — so 20 concurrent sends with a cap of 2 commit exactly 2.

Delivery happens later, in the worker: this use case only commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.notify.domain.template_documents import (
    MAX_DATA_JSON,
    MAX_DATA_KEYS,
    RenderedMessage,
    TemplateParts,
    render_message,
)
from services.notify.domain.templates import MissingPersonalData
from services.runtime.errors import Conflict, NotFound, ViolationCollector

MAX_DEDUPE_KEY = 200
MAX_SENDER_REF = 200
MAX_COUPON_CODE = 64
SENDERS = ("api", "journey", "campaign")
STATUSES = ("queued", "deferred", "sent", "delivered", "opened", "clicked", "failed", "suppressed")


@dataclass(frozen=True)
class SendCommand:
    """A checked request to send one message."""

    customer_id: uuid.UUID
    template_id: uuid.UUID
    data: Mapping[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None
    coupon_code: str | None = None
    sender: str = "api"
    sender_ref: str | None = None


@dataclass(frozen=True)
class StoredTemplate:
    template_id: uuid.UUID
    name: str
    channel: str
    purpose: str
    parts: TemplateParts


@dataclass(frozen=True)
class RecipientFacts:
    """What profile says of the customer for a channel: ``state`` live / merged / erased / unknown."""

    state: str
    customer_id: uuid.UUID  # the survivor when merged
    contact_masked: str | None
    timezone: str | None
    nickname: str | None


@dataclass(frozen=True)
class MessageDraft:
    """A message ready to commit; the store decides its status under the customer's lock."""

    customer_id: uuid.UUID
    template: StoredTemplate
    command: SendCommand
    recipient: RecipientFacts
    rendered: RenderedMessage | None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessageView:
    """A message as the API shows it."""

    message_id: uuid.UUID
    customer_id: uuid.UUID
    template_id: uuid.UUID
    channel: str
    purpose: str
    status: str
    reason: str | None
    to_masked: str | None
    sender: str
    created_at: datetime
    due_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    failed_at: datetime | None = None
    converted_at: datetime | None = None
    conversion_order_id: str | None = None
    deduplicated: bool = False


class Recipients(Protocol):
    """Profile's answer about a customer for a channel (masked contact only: nothing decrypted)."""

    async def recipient(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, channel: str
    ) -> RecipientFacts: ...


class ManyRecipients(Recipients, Protocol):
    """``Recipients`` for a batch of customers at once (journeys, campaigns)."""

    async def recipients(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], channel: str
    ) -> dict[uuid.UUID, RecipientFacts]: ...


class LoyaltyFacts(Protocol):
    """Loyalty's tier and points of a customer, asked only when a template prints them."""

    async def tier_and_points(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[str | None, int | None]: ...


class MessageStore(Protocol):
    async def template(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> StoredTemplate | None: ...

    async def channel_enabled(self, tenant_id: uuid.UUID, channel: str) -> bool: ...

    async def by_dedupe_key(self, tenant_id: uuid.UUID, key: str) -> MessageView | None: ...

    async def commit(self, tenant_id: uuid.UUID, draft: MessageDraft) -> MessageView:
        """Decide under the customer's lock and commit (an existing dedupe key answers its message)."""
        ...

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> MessageView | None: ...

    async def for_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[MessageView]: ...


class CustomerExport(Protocol):
    """Notify's part of a customer's export (messages without contacts, consents, suppressions)."""

    async def export(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any]: ...


def parse_send(
    customer_id: str,
    template_id: str,
    data_json: str,
    dedupe_key: str,
    coupon_code: str,
    sender: str = "",
    sender_ref: str = "",
) -> SendCommand:
    """The request's fields checked; InvalidArgument naming each fault."""
    errors = ViolationCollector()
    customer = _uuid(customer_id, "customer_id", errors)
    template = _uuid(template_id, "template_id", errors)
    data: Any = {}
    if data_json:
        if len(data_json) > MAX_DATA_JSON:
            errors.add("data", f"at most {MAX_DATA_JSON} bytes of JSON")
        else:
            try:
                data = json.loads(data_json)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                errors.add("data", "must be an object")
            elif len(data) > MAX_DATA_KEYS:
                errors.add("data", f"at most {MAX_DATA_KEYS} keys")
    if len(dedupe_key) > MAX_DEDUPE_KEY:
        errors.add("dedupe_key", f"at most {MAX_DEDUPE_KEY} characters")
    if len(coupon_code) > MAX_COUPON_CODE:
        errors.add("coupon_code", f"at most {MAX_COUPON_CODE} characters")
    if sender and sender not in SENDERS:
        errors.add("sender", f"must be one of {', '.join(SENDERS)}")
    if len(sender_ref) > MAX_SENDER_REF:
        errors.add("sender_ref", f"at most {MAX_SENDER_REF} characters")
    errors.raise_if_any()
    assert customer is not None
    assert template is not None
    return SendCommand(
        customer,
        template,
        data if isinstance(data, dict) else {},
        dedupe_key or None,
        coupon_code or None,
        sender or "api",
        sender_ref or None,
    )


def _uuid(value: str, name: str, errors: ViolationCollector) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        errors.add(name, "must be a UUID")
        return None


def personal_values(
    parts: TemplateParts,
    recipient: RecipientFacts,
    loyalty: tuple[str | None, int | None],
    coupon_code: str | None,
) -> dict[str, Any]:
    """The personal fields a template may print, from what profile and loyalty answered."""
    tier, points = loyalty
    values: dict[str, Any] = {
        "customer.nickname": recipient.nickname,
        "loyalty.tier": tier,
        "loyalty.points": points,
        "coupon.code": coupon_code,
    }
    return {name: values[name] for name in parts.personal_fields if name in values}


async def render_for(
    tenant_id: uuid.UUID,
    template: StoredTemplate,
    recipient: RecipientFacts,
    loyalty: LoyaltyFacts,
    data: Mapping[str, Any],
    coupon_code: str | None,
) -> RenderedMessage | MissingPersonalData:
    """The template rendered for one customer exactly as a send renders it (a preview too): loyalty
    is asked only when the template prints tier or points."""
    facts: tuple[str | None, int | None] = (None, None)
    if any(name.startswith("loyalty.") for name in template.parts.personal_fields):
        facts = await loyalty.tier_and_points(tenant_id, recipient.customer_id)
    personal = personal_values(template.parts, recipient, facts, coupon_code)
    return render_message(template.parts, personal, data)


async def draft_for(
    tenant_id: uuid.UUID,
    template: StoredTemplate,
    command: SendCommand,
    recipient: RecipientFacts,
    loyalty: LoyaltyFacts,
) -> MessageDraft:
    """Step 4 of the module's order for one known customer: rendered, or the personal fields it lacks
    (an erased customer gets no rendering; the store suppresses the message)."""
    rendered: RenderedMessage | None = None
    missing: tuple[str, ...] = ()
    if recipient.state != "erased":
        result = await render_for(tenant_id, template, recipient, loyalty, command.data, command.coupon_code)
        if isinstance(result, MissingPersonalData):
            missing = result.fields
        else:
            rendered = result
    return MessageDraft(recipient.customer_id, template, command, recipient, rendered, missing)


class MessageDesk:
    """The send use case and the reads of messages."""

    def __init__(self, store: MessageStore, recipients: Recipients, loyalty: LoyaltyFacts) -> None:
        self._store = store
        self._recipients = recipients
        self._loyalty = loyalty

    async def send(self, tenant_id: uuid.UUID, command: SendCommand) -> MessageView:
        """Judge and commit one message (see the module's order); the worker delivers it."""
        prepared = await self.prepare(tenant_id, command)
        if isinstance(prepared, MessageView):
            return prepared
        return await self._store.commit(tenant_id, prepared)

    async def prepare(self, tenant_id: uuid.UUID, command: SendCommand) -> MessageDraft | MessageView:
        """Steps 1 to 4 of the module's order: the draft to commit, or the message an earlier send
        under the same dedupe key committed. A journey commits the draft with its step's advance."""
        template = await self._store.template(tenant_id, command.template_id)
        if template is None:
            raise NotFound(f"template {command.template_id} not found")
        if not await self._store.channel_enabled(tenant_id, template.channel):
            raise Conflict(f"the {template.channel} channel is not configured or not enabled")
        if command.dedupe_key is not None:
            earlier = await self._store.by_dedupe_key(tenant_id, command.dedupe_key)
            if earlier is not None:
                return earlier
        recipient = await self._recipients.recipient(tenant_id, command.customer_id, template.channel)
        if recipient.state == "unknown":
            raise NotFound(f"customer {command.customer_id} not found")
        return await draft_for(tenant_id, template, command, recipient, self._loyalty)

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> MessageView | None:
        """One message of the tenant (None: unknown or another tenant's)."""
        return await self._store.get(tenant_id, message_id)

    async def for_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[MessageView]:
        """The customer's messages, newest first (a merged-away id answers for its survivor)."""
        return await self._store.for_customer(tenant_id, customer_id, after, limit)
