"""Resolving the identity sets of a whole batch to customers with as few transactions as possible.

A batch (of orders, say) names its customers by identity sets. Resolving each distinct set with its
own ``identify`` transaction costs a round trip per customer; most sets need far less:

1. **Known** — every identity of the set already belongs to one and the same customer, and none is
   verified by the set but not yet held verified: ``identify`` would change nothing, so one read for
   the whole batch answers all of them.
2. **Fresh** — no identity of the set is known and none is shared with another set of the batch: the
   customers are created together, in one transaction that holds the identities' advisory locks
   (the same locks ``identify`` takes, so a concurrent ``identify`` of one of them waits, and a set
   that became known meanwhile is left to step 3).
3. **Everything else** — a set that would attach a new identity to a customer, verify one, merge
   customers or keep them apart (``domain.identity_resolution``: a merge suggestion), or that overlaps
   another set of the batch — goes through ``identify`` one set at a time (a few at once), exactly as
   a single call would, because only that path applies those rules.

Sets are compared claim by claim: ``{phone}`` and ``{phone, verified}`` are two sets (the second may
verify the phone), but they share the identity, so neither is created as fresh.

The outcome is the one a sequence of ``identify`` calls would give; only the number of transactions
differs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.profile.domain.customers import CustomerAttributes, IdentifyResult
from services.profile.domain.identities import NormalizedIdentity

IdentitySet = frozenset[NormalizedIdentity]


@dataclass(frozen=True, slots=True)
class Held:
    """Who holds a known identity, and whether it is held verified."""

    customer_id: uuid.UUID
    verified: bool


# Sets resolved one by one at once (step 3): enough to overlap round trips, few enough to leave
# most of the connection pool to other calls.
IDENTIFY_CONCURRENCY = 4


class BatchIdentityStore(Protocol):
    """The set-based half of identity resolution (``services.profile.store.batch_identities``)."""

    async def owners(
        self, tenant_id: uuid.UUID, identities: Collection[NormalizedIdentity]
    ) -> dict[NormalizedIdentity, Held]:
        """Who holds each known identity (unknown identities are absent)."""
        ...

    async def create_customers(
        self, tenant_id: uuid.UUID, sets: Sequence[IdentitySet]
    ) -> tuple[dict[IdentitySet, uuid.UUID], dict[NormalizedIdentity, Held]]:
        """A new customer for each set none of whose identities is known, under the identities' locks.

        Also answers the holders of the identities found known meanwhile (read under those locks):
        the sets they belong to were not created.
        """
        ...


class SingleIdentifier(Protocol):
    """The one-set path (``SqlCustomerStore.identify``): attaches, merges, creates."""

    async def identify(
        self,
        tenant_id: uuid.UUID,
        identities: Sequence[NormalizedIdentity],
        attributes: CustomerAttributes,
    ) -> IdentifyResult: ...


def _owners(
    held: Mapping[NormalizedIdentity, Held],
) -> tuple[dict[NormalizedIdentity, uuid.UUID], set[NormalizedIdentity]]:
    """The customer of each known identity, and the identities whose verification is news."""
    owners = {identity: h.customer_id for identity, h in held.items()}
    return owners, {identity for identity, h in held.items() if identity.verified and not h.verified}


def _ordered(identity_set: IdentitySet) -> list[NormalizedIdentity]:
    return sorted(identity_set, key=lambda i: (i.type, i.value))


def _set_key(identity_set: IdentitySet) -> list[tuple[str, str]]:
    return [(i.type, i.value) for i in _ordered(identity_set)]


class BatchIdentityResolver:
    """Resolves every distinct identity set of a batch to its customer (see the module docstring)."""

    def __init__(self, store: BatchIdentityStore, single: SingleIdentifier) -> None:
        self._store = store
        self._single = single

    async def resolve(
        self, tenant_id: uuid.UUID, sets: Collection[IdentitySet]
    ) -> dict[IdentitySet, uuid.UUID]:
        """Each set → its customer, created when none matches; every set is in the answer."""
        results = await self.resolve_results(tenant_id, sets)
        return {identity_set: result.customer_id for identity_set, result in results.items()}

    async def resolve_results(
        self, tenant_id: uuid.UUID, sets: Collection[IdentitySet]
    ) -> dict[IdentitySet, IdentifyResult]:
        """Each set → what ``identify`` would answer for it (created, merged, kept apart)."""
        distinct = set(sets)
        if not distinct:
            return {}
        held = await self._store.owners(tenant_id, {i for s in distinct for i in s})
        known, fresh, others = self.classify(distinct, *_owners(held))
        resolved = {s: IdentifyResult(customer_id, created=False) for s, customer_id in known.items()}
        if fresh:
            created, taken = await self._store.create_customers(tenant_id, fresh)
            resolved.update(
                {s: IdentifyResult(customer_id, created=True) for s, customer_id in created.items()}
            )
            # Created meanwhile by a concurrent call (another batch of the same import, usually):
            # a set now wholly owned by one customer needs nothing more, the rest goes one by one.
            late = [s for s in fresh if s not in created]
            found, _, rest = self.classify(late, *_owners(taken))
            resolved.update(
                {s: IdentifyResult(customer_id, created=False) for s, customer_id in found.items()}
            )
            others.extend(rest)
        resolved.update(await self._one_by_one(tenant_id, others))
        return resolved

    @staticmethod
    def classify(
        sets: Collection[IdentitySet],
        owners: Mapping[NormalizedIdentity, uuid.UUID],
        unverified: Collection[NormalizedIdentity] = frozenset(),
    ) -> tuple[dict[IdentitySet, uuid.UUID], list[IdentitySet], list[IdentitySet]]:
        """Split sets into known (→ customer), fresh (created together) and the rest (one by one).

        ``unverified``: identities a set claims verified that their holder does not hold so yet.
        """
        shared = Counter(i.key for s in sets for i in s)
        known: dict[IdentitySet, uuid.UUID] = {}
        fresh: list[IdentitySet] = []
        others: list[IdentitySet] = []
        for identity_set in sets:
            found = {owners[i] for i in identity_set if i in owners}
            settled = all(i in owners and i not in unverified for i in identity_set)
            if len(found) == 1 and settled:
                known[identity_set] = found.pop()
            elif not found and all(shared[i.key] == 1 for i in identity_set):
                fresh.append(identity_set)
            else:
                others.append(identity_set)
        fresh.sort(key=_set_key)  # a stable order: the same batch creates its customers alike
        return known, fresh, others

    async def _one_by_one(
        self, tenant_id: uuid.UUID, sets: Sequence[IdentitySet]
    ) -> dict[IdentitySet, IdentifyResult]:
        gate = asyncio.Semaphore(IDENTIFY_CONCURRENCY)
        resolved: dict[IdentitySet, IdentifyResult] = {}

        async def one(identity_set: IdentitySet) -> None:
            async with gate:
                resolved[identity_set] = await self._single.identify(
                    tenant_id, _ordered(identity_set), CustomerAttributes()
                )

        await asyncio.gather(*(one(s) for s in sets))
        return resolved
