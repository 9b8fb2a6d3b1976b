"""What the links in a message do when a customer (or a machine) follows them.

- the open pixel records the first open of a message (not by scanners or prefetchers);
- a click records the first click (and an open, which it implies) and answers the target the
  message carried — only a genuine token yields a redirect, so there is no open redirect;
- unsubscribe stops marketing on that channel for the customer at once (a suppression notify
  checks before every send) and withdraws the channel's marketing consent in profile (source
  ``unsubscribe``), so segments and every other service see the same answer. RFC 8058 one-click
  (a POST) and the page's own button both land here; a GET only shows the page, because mail
  scanners follow GET links and must not unsubscribe anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from services.notify.domain.links import CLICK, OPEN, UNSUBSCRIBE, LinkSigner, is_automated
from services.runtime.errors import NotFound


@dataclass(frozen=True)
class LinkOutcome:
    redirect_url: str = ""
    recorded: bool = False
    channel: str = ""


class LinkStore(Protocol):
    async def record_open(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool: ...

    async def record_click(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool: ...

    async def unsubscribe(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        """Suppress the message's customer on its channel; (customer, channel), None if unknown."""
        ...

    async def channel_of(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> str | None: ...


class ConsentWriter(Protocol):
    async def withdraw_marketing(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, channel: str
    ) -> None: ...


class LinkDesk:
    """Opens, clicks and unsubscribes, from signed tokens only."""

    def __init__(self, signer: LinkSigner, store: LinkStore, consents: ConsentWriter) -> None:
        self._signer = signer
        self._store = store
        self._consents = consents

    def _token(self, token: str, kind: str, tenant_id: uuid.UUID) -> uuid.UUID:
        parsed = self._signer.verify(token, kind)
        if parsed is None or parsed.tenant_id != tenant_id:
            raise NotFound("this link is not valid or has expired")
        return parsed.message_id

    async def open(self, tenant_id: uuid.UUID, token: str, user_agent: str, method: str) -> LinkOutcome:
        """Record a human's first open of the message."""
        message_id = self._token(token, OPEN, tenant_id)
        if is_automated(user_agent, method):
            return LinkOutcome()
        return LinkOutcome(recorded=await self._store.record_open(tenant_id, message_id))

    async def click(self, tenant_id: uuid.UUID, token: str, user_agent: str, method: str) -> LinkOutcome:
        """Record a human's first click; answer where the link goes either way."""
        parsed = self._signer.verify(token, CLICK)
        if parsed is None or parsed.tenant_id != tenant_id or not parsed.url:
            raise NotFound("this link is not valid or has expired")
        recorded = False
        if not is_automated(user_agent, method):
            recorded = await self._store.record_click(tenant_id, parsed.message_id)
        return LinkOutcome(redirect_url=parsed.url, recorded=recorded)

    async def describe(self, tenant_id: uuid.UUID, token: str) -> LinkOutcome:
        """Which channel the unsubscribe page is about (nothing changes)."""
        message_id = self._token(token, UNSUBSCRIBE, tenant_id)
        channel = await self._store.channel_of(tenant_id, message_id)
        if channel is None:
            raise NotFound("this link is not valid or has expired")
        return LinkOutcome(channel=channel)

    async def unsubscribe(self, tenant_id: uuid.UUID, token: str) -> LinkOutcome:
        """Stop marketing on the message's channel for its customer (repeating changes nothing)."""
        message_id = self._token(token, UNSUBSCRIBE, tenant_id)
        found = await self._store.unsubscribe(tenant_id, message_id)
        if found is None:
            raise NotFound("this link is not valid or has expired")
        customer_id, channel = found
        await self._consents.withdraw_marketing(tenant_id, customer_id, channel)
        return LinkOutcome(recorded=True, channel=channel)
