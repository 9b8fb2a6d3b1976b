"""The tenant's messaging set-up: channels, the policy, templates and their preview.

Rules live in ``channels.py``, ``policy.py`` and ``template_documents.py``; this desk strings them to
the stores. A channel's PUT that omits a secret keeps the stored one (an operator changes the port
without retyping the password); secrets never come back out — only the names of those stored.
A preview renders for a real customer with exactly the send's rules (profile's nickname, loyalty's
tier and points), so what the operator sees is what the customer would get.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.notify.domain.channels import ChannelConfig, merge_secrets, parse_channel, public_view
from services.notify.domain.messages import LoyaltyFacts, Recipients, StoredTemplate, render_for
from services.notify.domain.policy import Policy, parse_policy, policy_document
from services.notify.domain.template_documents import (
    RenderedMessage,
    TemplateDocument,
    parse_template_document,
)
from services.notify.domain.templates import MissingPersonalData, SmsSize, sms_size
from services.runtime.errors import InvalidArgument, NotFound


@dataclass(frozen=True)
class ChannelView:
    channel: str
    provider: str
    settings: dict[str, Any]
    secrets_set: list[str]
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True)
class PreviewView:
    rendered: RenderedMessage | None
    missing: tuple[str, ...]
    size: SmsSize | None
    to_masked: str | None


class ChannelStore(Protocol):
    async def put(
        self,
        tenant_id: uuid.UUID,
        channel: str,
        provider: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        enabled: bool,
    ) -> Any: ...

    async def get(self, tenant_id: uuid.UUID, channel: str) -> Any: ...

    async def all(self, tenant_id: uuid.UUID) -> list[Any]: ...

    async def policy(self, tenant_id: uuid.UUID) -> tuple[dict[str, Any] | None, datetime | None]: ...

    async def put_policy(self, tenant_id: uuid.UUID, document: Mapping[str, Any]) -> datetime: ...


class TemplateLookup(Protocol):
    async def template(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> StoredTemplate | None: ...


class TemplateRows(Protocol):
    async def create(
        self, tenant_id: uuid.UUID, document: TemplateDocument, source: dict[str, Any]
    ) -> Any: ...

    async def get(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> Any: ...

    async def page(
        self, tenant_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Any]: ...


def _view(stored: Any) -> ChannelView:
    shown = public_view(
        ChannelConfig(stored.channel, stored.provider, stored.settings, stored.secrets, stored.enabled)
    )
    return ChannelView(
        stored.channel,
        stored.provider,
        shown["settings"],
        shown["secrets_set"],
        stored.enabled,
        stored.updated_at,
    )


class SetupDesk:
    """Channels, the policy and template previews of a tenant."""

    def __init__(
        self,
        channels: ChannelStore,
        templates: TemplateLookup,
        template_rows: TemplateRows,
        recipients: Recipients,
        loyalty: LoyaltyFacts,
    ) -> None:
        self._channels = channels
        self._templates = templates
        self._template_rows = template_rows
        self._recipients = recipients
        self._loyalty = loyalty

    async def put_channel(self, tenant_id: uuid.UUID, channel: str, document: Any) -> ChannelView:
        """Check and store a channel's provider and settings (secrets sealed by the store)."""
        if not isinstance(document, dict):
            raise InvalidArgument.single("channel", "must be an object")
        config = parse_channel(channel, document)
        old = await self._channels.get(tenant_id, channel)
        if old is not None:
            previous = ChannelConfig(old.channel, old.provider, old.settings, old.secrets, old.enabled)
            config = merge_secrets(previous, config)
        stored = await self._channels.put(
            tenant_id, channel, config.provider, config.settings, config.secrets, config.enabled
        )
        return _view(stored)

    async def channel(self, tenant_id: uuid.UUID, channel: str) -> ChannelView:
        stored = await self._channels.get(tenant_id, channel)
        if stored is None:
            raise NotFound(f"the {channel} channel is not configured")
        return _view(stored)

    async def channels(self, tenant_id: uuid.UUID) -> list[ChannelView]:
        return [_view(stored) for stored in await self._channels.all(tenant_id)]

    async def policy(self, tenant_id: uuid.UUID) -> tuple[dict[str, Any], datetime | None]:
        """The policy document (the defaults — no caps, no quiet hours — until one is set)."""
        document, updated_at = await self._channels.policy(tenant_id)
        policy = parse_policy(document) if document is not None else Policy()
        return policy_document(policy), updated_at

    async def put_policy(self, tenant_id: uuid.UUID, document: Any) -> tuple[dict[str, Any], datetime]:
        """Check and replace the policy; it applies to the next message decided."""
        canonical = policy_document(parse_policy(document))
        return canonical, await self._channels.put_policy(tenant_id, canonical)

    async def create_template(self, tenant_id: uuid.UUID, document: Any) -> Any:
        """Check every Liquid part and save the template (a used name is AlreadyExists)."""
        checked = parse_template_document(document)
        return await self._template_rows.create(tenant_id, checked, dict(document))

    async def template_row(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> Any:
        row = await self._template_rows.get(tenant_id, template_id)
        if row is None:
            raise NotFound(f"template {template_id} not found")
        return row

    async def templates_page(
        self, tenant_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Any]:
        """Up to ``limit`` templates after the cursor, in creation order."""
        return await self._template_rows.page(tenant_id, after, limit)

    async def preview(
        self,
        tenant_id: uuid.UUID,
        template_id: uuid.UUID,
        customer_id: uuid.UUID,
        data: Any,
        coupon_code: str | None,
    ) -> PreviewView:
        """Render a template for a real customer, as a send would (nothing is sent or stored)."""
        template = await self._templates.template(tenant_id, template_id)
        if template is None:
            raise NotFound(f"template {template_id} not found")
        recipient = await self._recipients.recipient(tenant_id, customer_id, template.channel)
        if recipient.state in ("unknown", "erased"):
            raise NotFound(f"customer {customer_id} not found")
        if not isinstance(data, Mapping):
            raise InvalidArgument.single("data", "must be an object")
        result = await render_for(tenant_id, template, recipient, self._loyalty, data, coupon_code)
        if isinstance(result, MissingPersonalData):
            return PreviewView(None, result.fields, None, recipient.contact_masked)
        size = sms_size(result.body) if template.channel == "sms" else None
        return PreviewView(result, (), size, recipient.contact_masked)
