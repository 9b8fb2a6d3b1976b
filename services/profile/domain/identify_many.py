"""Identify calls answered together: what lets many small concurrent calls share their round trips.

A storefront identifies a shopper on every sign-in and checkout, so under load the gateway holds
many ``identify`` calls of one tenant at once. Each alone costs a transaction of several round trips;
gathered, the calls that name a known customer are answered by one read and the new customers are
created in one transaction (``domain.batch_identities``). The calls were concurrent, so they have no
order of their own; each gets the answer it would get if they had been sent one after another:

- a call whose identities or attributes have a fault is **unsettled**: nothing of it is written and
  its sender sends it alone, which answers the fault exactly as before (field names included);
- a call with attributes goes through ``identify`` on its own after the others (it updates the
  customer, and finds one that a call without attributes created);
- the same identity set named by several calls is resolved once; the first of them is the one that
  created the customer or merged customers, the later ones found it (``created`` false, no merges).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.profile.domain.batch_identities import (
    IDENTIFY_CONCURRENCY,
    BatchIdentityResolver,
    IdentitySet,
    SingleIdentifier,
)
from services.profile.domain.customers import CustomerAttributes, IdentifyResult, validate_attributes
from services.profile.domain.directory import TenantRegistry
from services.profile.domain.identities import IdentityInput, NormalizedIdentity, normalize_identities
from services.runtime.errors import DomainError, InvalidArgument

# Calls per IdentifyMany: a batch is answered within one ordinary deadline even when every call in
# it creates a customer.
MAX_CALLS_PER_BATCH = 100


@dataclass(frozen=True, slots=True)
class IdentifyCall:
    """One identify call as its sender wrote it."""

    identities: Sequence[IdentityInput]
    attributes: CustomerAttributes


@dataclass(frozen=True, slots=True)
class Unsettled:
    """A call not answered in the batch; its sender sends it alone. ``reason`` is for logs."""

    reason: str


IdentifyOutcome = IdentifyResult | Unsettled


def check_batch_size(count: int) -> None:
    """Refuse a batch of no calls or of more than MAX_CALLS_PER_BATCH (InvalidArgument)."""
    if count < 1:
        raise InvalidArgument.single("calls", "at least one call is required")
    if count > MAX_CALLS_PER_BATCH:
        raise InvalidArgument.single("calls", f"at most {MAX_CALLS_PER_BATCH} calls per batch")


@dataclass(frozen=True, slots=True)
class _Checked:
    index: int
    identities: list[NormalizedIdentity]
    attributes: CustomerAttributes


def _as_found(result: IdentifyResult) -> IdentifyResult:
    """What a later call of the same identity set gets: the customer, found; still kept apart from
    the customers an unverified link points at."""
    return IdentifyResult(
        result.customer_id, created=False, unmerged_customer_ids=result.unmerged_customer_ids
    )


class IdentifyBatch:
    """Answers a batch of identify calls of one tenant (see the module docstring)."""

    def __init__(
        self, resolver: BatchIdentityResolver, single: SingleIdentifier, tenants: TenantRegistry
    ) -> None:
        self._resolver = resolver
        self._single = single
        self._tenants = tenants

    async def identify_many(
        self, tenant_id: uuid.UUID, calls: Sequence[IdentifyCall]
    ) -> list[IdentifyOutcome]:
        """One outcome per call, in order. Raises InvalidArgument for an empty or oversized batch."""
        check_batch_size(len(calls))
        tenant = await self._tenants.get(tenant_id)
        outcomes: list[IdentifyOutcome] = [Unsettled("not answered")] * len(calls)
        plain: list[tuple[int, IdentitySet]] = []
        with_attributes: list[_Checked] = []
        for checked in self._checked(calls, tenant.default_region, tenant.timezone, outcomes):
            if checked.attributes.given():
                with_attributes.append(checked)
            else:
                plain.append((checked.index, frozenset(checked.identities)))
        results = await self._resolver.resolve_results(tenant_id, {s for _, s in plain})
        answered: set[IdentitySet] = set()
        for index, identity_set in plain:
            result = results[identity_set]
            outcomes[index] = _as_found(result) if identity_set in answered else result
            answered.add(identity_set)
        await self._identify_alone(tenant_id, with_attributes, outcomes)
        return outcomes

    @staticmethod
    def _checked(
        calls: Sequence[IdentifyCall], region: str, timezone: str, outcomes: list[IdentifyOutcome]
    ) -> list[_Checked]:
        """The calls whose input is sound, normalised; a faulty one is marked unsettled."""
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo(timezone)).date()
        sound: list[_Checked] = []
        for index, call in enumerate(calls):
            try:
                normalized = normalize_identities(call.identities, region)
                validate_attributes(call.attributes, today, now)
            except InvalidArgument as fault:
                outcomes[index] = Unsettled(f"invalid argument: {fault}")
                continue
            sound.append(_Checked(index, normalized, call.attributes))
        return sound

    async def _identify_alone(
        self, tenant_id: uuid.UUID, calls: Sequence[_Checked], outcomes: list[IdentifyOutcome]
    ) -> None:
        """Calls that set attributes, each through ``identify`` (a few at once); a call the rules
        refuse is left unsettled, so that its sender gets the refusal from a call of its own."""
        gate = asyncio.Semaphore(IDENTIFY_CONCURRENCY)

        async def one(call: _Checked) -> None:
            async with gate:
                try:
                    outcomes[call.index] = await self._single.identify(
                        tenant_id, call.identities, call.attributes
                    )
                except DomainError as refusal:
                    outcomes[call.index] = Unsettled(f"refused: {refusal}")

        await asyncio.gather(*(one(c) for c in calls))
