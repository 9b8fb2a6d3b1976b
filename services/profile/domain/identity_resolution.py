"""When a call's identities point at several existing customers: merge them, or keep them apart.

An identity links a call to a customer; what the call claims is that all its identities are one
person. That claim merges two customers only when the link to *each* of them is trusted:

- the identity is ``verified`` in this call (the caller proved the person controls it now), or
- its type is one the tenant auto-merges (``auto_merge_types``; by default the ids that an
  authenticated system asserts and a person never types: ``external_id``, ``app_user_id``,
  ``wechat_openid``, ``wechat_unionid``).

Whether the identity was verified *earlier* does not make this call's claim true: an attacker who
verified their own e-mail and sends a victim's phone unverified beside it must not get the victim's
customer. Customers linked only through untrusted identities stay apart; the call attaches to one
customer (below), and each customer left apart becomes a merge suggestion for an operator.

Which customer the call attaches to:
1. some customers are linked through trusted identities: they are merged, the oldest survives
   (earliest ``created_at``, then smallest id, as before), and the call attaches to it;
2. none is: the call attaches to the customer holding the strongest link — an identity it holds
   verified, then the type's strength (:data:`TYPE_STRENGTH`), then the oldest.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.profile.domain.identities import IDENTITY_TYPES, NormalizedIdentity
from services.runtime.errors import ViolationCollector

# Asserted by the merchant's own login, or by WeChat's (an OAuth code exchanged server-side): never
# typed by the person, so a call naming one comes from a session that holds it.
DEFAULT_AUTO_MERGE_TYPES: tuple[str, ...] = ("external_id", "app_user_id", "wechat_openid", "wechat_unionid")
# Strongest first: the ids systems assert, then contacts a person types, then a chosen nickname.
TYPE_STRENGTH: tuple[str, ...] = (
    "external_id",
    "app_user_id",
    "wechat_unionid",
    "wechat_openid",
    "phone",
    "email",
    "platform_nick",
)


@dataclass(frozen=True, slots=True)
class ResolutionSettings:
    """A tenant's identity-resolution settings; ``updated_at`` None: never set (the defaults)."""

    auto_merge_types: tuple[str, ...] = DEFAULT_AUTO_MERGE_TYPES
    updated_at: datetime | None = None


def validate_auto_merge_types(types: Sequence[str]) -> tuple[str, ...]:
    """The types in :data:`TYPE_STRENGTH` order, each once; InvalidArgument names
    ``auto_merge_types[i]`` for each unknown one. Empty is allowed: only verified identities merge."""
    errors = ViolationCollector()
    for index, name in enumerate(types):
        if name not in IDENTITY_TYPES:
            errors.add(f"auto_merge_types[{index}]", f"must be one of {', '.join(IDENTITY_TYPES)}")
    errors.raise_if_any()
    return tuple(t for t in TYPE_STRENGTH if t in set(types))


@dataclass(frozen=True, slots=True)
class Link:
    """One of the call's identities, held by an existing customer (``held_verified``: stored so)."""

    identity: NormalizedIdentity
    held_verified: bool

    def trusted(self, auto_merge_types: Collection[str]) -> bool:
        """Whether this call's claim of the identity may merge its holder with the call's person."""
        return self.identity.verified or self.identity.type in auto_merge_types

    def strength(self) -> tuple[bool, int]:
        """Smaller is stronger: held verified first, then by type."""
        return not self.held_verified, TYPE_STRENGTH.index(self.identity.type)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An existing customer holding at least one of the call's identities."""

    customer_id: uuid.UUID
    links: tuple[Link, ...]

    def strongest(self) -> Link:
        return min(self.links, key=Link.strength)


@dataclass(frozen=True, slots=True)
class Apart:
    """A customer the call also points at but did not merge, and the identity that showed it."""

    customer_id: uuid.UUID
    identity_type: str
    identity_masked: str


@dataclass(frozen=True, slots=True)
class ResolutionPlan:
    """The customer the call attaches to, those merged into it, and those left apart."""

    customer_id: uuid.UUID
    merged: list[uuid.UUID] = field(default_factory=list)
    apart: list[Apart] = field(default_factory=list)


def plan_resolution(candidates: Sequence[Candidate], auto_merge_types: Collection[str]) -> ResolutionPlan:
    """Apply the rule of this module to ``candidates`` (oldest first, at least one)."""
    if not candidates:
        raise ValueError("nothing to resolve")
    trusted = [c for c in candidates if any(link.trusted(auto_merge_types) for link in c.links)]
    if trusted:
        survivor, merged = trusted[0], [c.customer_id for c in trusted[1:]]
    else:
        age = {c.customer_id: position for position, c in enumerate(candidates)}
        survivor = min(candidates, key=lambda c: (*c.strongest().strength(), age[c.customer_id]))
        merged = []
    kept = {survivor.customer_id, *merged}
    apart = [
        Apart(c.customer_id, c.strongest().identity.type, c.strongest().identity.masked)
        for c in candidates
        if c.customer_id not in kept
    ]
    return ResolutionPlan(survivor.customer_id, merged, apart)
