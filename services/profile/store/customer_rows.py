"""Turning a ``customers`` row into the domain's Customer (one place for reads and listings)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from services.profile.domain.customers import Customer, CustomerAttributes
from services.profile.domain.identities import NormalizedIdentity


def customer_from_row(
    row: sa.Row[Any],
    nickname: str | None,
    identity_rows: list[NormalizedIdentity],
    requested: uuid.UUID | None,
) -> Customer:
    """A Customer from a ``customers`` row; ``merged_into`` is set when ``requested`` was merged away."""
    return Customer(
        customer_id=row.customer_id,
        attributes=CustomerAttributes(
            nickname=nickname,
            gender=row.gender,
            birthday=row.birthday,
            province=row.province,
            city=row.city,
            registered_at=row.registered_at,
            registration_channel=row.registration_channel,
            device=row.device,
            custom=row.custom or None,
            timezone=row.timezone,
        ),
        identities=identity_rows,
        created_at=row.created_at,
        updated_at=row.updated_at,
        merged_into=row.customer_id if requested is not None and row.customer_id != requested else None,
    )


def masked_identity(kind: str, masked: str, verified: bool) -> NormalizedIdentity:
    """An identity as listings carry it: only the masked form (the clear value stays sealed)."""
    return NormalizedIdentity(kind, masked, masked, verified)
