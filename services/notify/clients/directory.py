"""Notify's clients of profile (who a customer is, and the contact to reach) and of loyalty (tier and
points, for templates that print them).

Implements the domain's ``Recipients`` and ``LoyaltyFacts`` ports and the delivery worker's
``ContactSource``. Only the worker asks profile to reveal a contact; the clear value lives in the
worker's memory for the send and is never written to notify's database. A failed call becomes
``Unavailable`` (the API answers 503, the worker retries the batch); nothing of gRPC reaches the
domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc, membership_pb2, membership_pb2_grpc
from patron.profile.v1 import contacts_pb2, contacts_pb2_grpc, tags_pb2, tags_pb2_grpc
from services.notify.domain.messages import RecipientFacts
from services.runtime.errors import Unavailable
from services.runtime.tenancy import TENANT_METADATA_KEY

DEADLINE_SECONDS = 5.0
MAX_BATCH = 1_000


@dataclass(frozen=True)
class Reach:
    """A customer's clear contact for one channel (None: none to reach), for one send."""

    customer_id: uuid.UUID
    state: str
    contact: str | None


def _metadata(tenant_id: uuid.UUID) -> tuple[tuple[str, str]]:
    return ((TENANT_METADATA_KEY, str(tenant_id)),)


class ProfileRecipients:
    """Profile's ContactService.Recipients for one customer (enqueue) or a batch (delivery)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = contacts_pb2_grpc.ContactServiceStub(channel)

    async def _ask(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], channel: str, reveal: bool
    ) -> list[contacts_pb2.Recipient]:
        try:
            answer = await self._stub.Recipients(
                contacts_pb2.RecipientsRequest(
                    customer_ids=[str(c) for c in customer_ids], channel=channel, reveal=reveal
                ),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            raise Unavailable(f"profile answered {error.code().name} about the recipients") from error
        return list(answer.recipients)

    async def recipient(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, channel: str) -> RecipientFacts:
        """Who the customer is now and the masked contact the channel would use (nothing revealed)."""
        (found,) = await self._ask(tenant_id, [customer_id], channel, reveal=False)
        return _facts(found)

    async def recipients(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], channel: str
    ) -> dict[uuid.UUID, RecipientFacts]:
        """``recipient`` for many customers, a call per 1,000 (a journey's batch of sends)."""
        distinct = list(dict.fromkeys(customer_ids))
        answers: dict[uuid.UUID, RecipientFacts] = {}
        for start in range(0, len(distinct), MAX_BATCH):
            chunk = distinct[start : start + MAX_BATCH]
            for found in await self._ask(tenant_id, chunk, channel, reveal=False):
                answers[uuid.UUID(found.customer_id)] = _facts(found)
        return answers

    async def reveal(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], channel: str
    ) -> list[Reach]:
        """The clear contacts of a batch, for the send that follows at once (≤ 1,000 per call)."""
        reaches: list[Reach] = []
        for start in range(0, len(customer_ids), MAX_BATCH):
            chunk = customer_ids[start : start + MAX_BATCH]
            for found in await self._ask(tenant_id, chunk, channel, reveal=True):
                reaches.append(Reach(uuid.UUID(found.customer_id), found.state, found.contact or None))
        return reaches


def _facts(found: contacts_pb2.Recipient) -> RecipientFacts:
    asked = uuid.UUID(found.customer_id)
    survivor = uuid.UUID(found.survivor_id) if found.state == "merged" and found.survivor_id else asked
    return RecipientFacts(
        state=found.state,
        customer_id=survivor,
        contact_masked=found.contact_masked or None,
        timezone=found.timezone or None,
        nickname=found.nickname or None,
    )


class LoyaltyClient:
    """Loyalty's tier and points balance of a customer."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._membership = membership_pb2_grpc.MembershipServiceStub(channel)
        self._points = loyalty_pb2_grpc.PointsServiceStub(channel)

    async def tier_and_points(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[str | None, int | None]:
        """The tier's name and the points balance; (None, None) when loyalty knows no such member."""
        request_id = str(customer_id)
        try:
            membership = await self._membership.GetMembership(
                membership_pb2.GetMembershipRequest(customer_id=request_id),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
            balance = await self._points.GetBalance(
                loyalty_pb2.GetBalanceRequest(customer_id=request_id),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return None, None
            raise Unavailable(f"loyalty answered {error.code().name} about the member") from error
        return (membership.tier.name or None), balance.balance


class ProfileConsents:
    """Profile's ConsentService: an unsubscribe withdraws the channel's marketing consent there too."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = tags_pb2_grpc.ConsentServiceStub(channel)

    async def withdraw_marketing(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, channel: str) -> None:
        """Withdraw, with source ``unsubscribe`` (repeating it changes nothing in profile)."""
        try:
            await self._stub.SetConsent(
                tags_pb2.SetConsentRequest(
                    customer_id=str(customer_id),
                    channel=channel,
                    purpose="marketing",
                    granted=False,
                    source="unsubscribe",
                ),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return  # erased or unknown in profile: notify's suppression already holds
            raise Unavailable(f"profile answered {error.code().name} to the unsubscribe") from error
