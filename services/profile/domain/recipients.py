"""What notify needs to reach a batch of customers on one channel, asked at send time.

Notify owns reaching customers but keeps no contact in clear: contacts live only here, sealed at
rest, and notify asks for them when it needs them. Two moments ask, so ``reveal`` tells them apart:

- enqueue-time checks (does the customer still exist, do they hold a contact for the channel, which
  zone are they in for quiet hours) ask with ``reveal`` false and get the masked contact only, so
  nothing is decrypted for a message that may yet be suppressed or deferred;
- the delivery worker alone asks with ``reveal`` true, for the clear contact it hands the provider
  and holds in memory for that one send.

``reveal`` guards the contact — the means of reaching the person. The nickname (for the template's
``{{ customer.nickname }}``, a preview included) and the time zone come either way.

Rules, as for the masked contacts (``domain/contacts.py``): at most ``MAX_CONTACT_BATCH`` ids, each a
UUID (``customer_ids[i]`` names a malformed one), duplicates counted once; each contact is the
identity of the channel's type recorded last. Unlike them, every distinct id gets an answer, so the
sender can tell a customer who left (merged, erased) from one never known:

- ``live``: the customer's own contact, zone and nickname;
- ``merged``: the survivor (the end of the merge chain) and the survivor's contact, zone and
  nickname — a message for the merged id reaches the person under their current id;
- ``erased``: nothing else (the person asked to be forgotten: there is no one to reach);
- ``unknown``: no customer of this tenant has the id (another tenant's customers are unknown here).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from services.profile.domain.contacts import parse_customer_ids
from services.runtime.errors import InvalidArgument

CHANNEL_IDENTITY_TYPES: Mapping[str, str] = {
    "sms": "phone",
    "email": "email",
    "wechat": "wechat_openid",
    "push": "app_user_id",
}
"""Each notify channel → the identity type that reaches a customer on it."""

RecipientState = Literal["live", "merged", "erased", "unknown"]


@dataclass(frozen=True, slots=True)
class ResolvedCustomer:
    """One asked id as the store found it: where its merge chain ends and that customer's data.

    ``end_id`` is the asked id itself when it was not merged. When ``erased`` the other fields are
    None. ``contact`` is the clear value, read and decrypted only when the caller asked to reveal it.
    """

    customer_id: uuid.UUID
    end_id: uuid.UUID
    erased: bool
    contact: str | None
    contact_masked: str | None
    timezone: str | None
    nickname: str | None


@dataclass(frozen=True, slots=True)
class Recipient:
    """The answer for one requested id (see the module's rules for what each state carries)."""

    customer_id: uuid.UUID
    state: RecipientState
    survivor_id: uuid.UUID | None = None
    contact: str | None = None
    contact_masked: str | None = None
    timezone: str | None = None
    nickname: str | None = None


class RecipientStore(Protocol):
    """Resolves the tenant's customers among ``customer_ids`` to the ends of their merge chains.

    Ids no customer of the tenant has (or whose chain leads nowhere live or erased) are left out.
    """

    async def resolve_recipients(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], identity_type: str, *, reveal: bool
    ) -> list[ResolvedCustomer]: ...


def parse_channel(value: str) -> str:
    """The identity type of a channel name; InvalidArgument names ``channel`` for any other."""
    identity_type = CHANNEL_IDENTITY_TYPES.get(value)
    if identity_type is None:
        raise InvalidArgument.single("channel", f"must be one of {', '.join(CHANNEL_IDENTITY_TYPES)}")
    return identity_type


def recipient_of(found: ResolvedCustomer | None, customer_id: uuid.UUID) -> Recipient:
    """The answer for one asked id from what the store found (None: nothing)."""
    if found is None:
        return Recipient(customer_id, "unknown")
    if found.erased:
        return Recipient(customer_id, "erased")
    merged = found.end_id != customer_id
    return Recipient(
        customer_id,
        "merged" if merged else "live",
        survivor_id=found.end_id if merged else None,
        contact=found.contact,
        contact_masked=found.contact_masked,
        timezone=found.timezone,
        nickname=found.nickname,
    )


class RecipientDirectory:
    """The recipients use case: validate the batch and channel, read once, answer every id in order."""

    def __init__(self, store: RecipientStore) -> None:
        self._store = store

    async def recipients(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[str], channel: str, *, reveal: bool
    ) -> list[Recipient]:
        """One answer per distinct id of ``customer_ids`` (at most 1,000) for sending on ``channel``;
        the clear contact only when ``reveal`` (the delivery worker's call, never an enqueue check)."""
        identity_type = parse_channel(channel)
        ids = parse_customer_ids(customer_ids)
        found = {
            resolved.customer_id: resolved
            for resolved in await self._store.resolve_recipients(tenant_id, ids, identity_type, reveal=reveal)
        }
        return [recipient_of(found.get(customer_id), customer_id) for customer_id in ids]
