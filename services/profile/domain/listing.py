"""Listing customers: filters, limits and the opaque keyset cursor."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.profile.domain.identities import IdentityInput, NormalizedIdentity, normalize_identities
from services.runtime.errors import InvalidArgument, ViolationCollector
from services.runtime.paging import MAX_PAGE_SIZE, cursor_key, encode_cursor

DEFAULT_PAGE = 50
FILTERABLE_ATTRIBUTES: frozenset[str] = frozenset(
    {"gender", "province", "city", "device", "registration_channel"}
)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the last customer's creation time and id (newest first)."""

    created_at: datetime
    customer_id: uuid.UUID

    def encode(self) -> str:
        """The opaque cursor of the page that follows this customer."""
        return encode_cursor([self.created_at, self.customer_id])

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The place a cursor of this list marks; anything else is a fault of ``cursor``."""
        return cls(*cursor_key(token, (datetime, uuid.UUID)))


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """A validated listing request."""

    limit: int = DEFAULT_PAGE
    after: Cursor | None = None
    identity: NormalizedIdentity | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    tag_id: uuid.UUID | None = None


def build_query(
    *,
    limit: int,
    cursor: str,
    identity_type: str,
    identity_value: str,
    attributes: Mapping[str, str],
    tag_id: str,
    default_region: str,
) -> CustomerQuery:
    """Check a listing request; every fault names its query parameter."""
    errors = ViolationCollector()
    if limit == 0:
        limit = DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        errors.add("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    for name in attributes:
        if name not in FILTERABLE_ATTRIBUTES:
            errors.add(name, f"cannot filter on it; filterable: {', '.join(sorted(FILTERABLE_ATTRIBUTES))}")
    if bool(identity_type) != bool(identity_value):
        errors.add(
            "identity_value" if identity_type else "identity_type",
            "identity_type and identity_value go together",
        )
    parsed_tag: uuid.UUID | None = None
    if tag_id:
        try:
            parsed_tag = uuid.UUID(tag_id)
        except ValueError:
            errors.add("tag_id", "must be a tag id")
    errors.raise_if_any()
    identity = None
    if identity_type:
        try:
            identity = normalize_identities([IdentityInput(identity_type, identity_value)], default_region)[0]
        except InvalidArgument as error:
            renamed = {"identities[0].type": "identity_type", "identities[0].value": "identity_value"}
            raise InvalidArgument(
                [type(v)(renamed.get(v.field, v.field), v.message) for v in error.violations]
            ) from None
    return CustomerQuery(
        limit=limit,
        after=Cursor.decode(cursor) if cursor else None,
        identity=identity,
        attributes=dict(attributes),
        tag_id=parsed_tag,
    )
