"""The tenant of the call being served, and the rules every service applies to a tenant's settings."""

from __future__ import annotations

import uuid
import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass

import pycountry

from services.runtime.currencies import is_tender
from services.runtime.errors import Unauthenticated, ViolationCollector

TENANT_METADATA_KEY = "x-patron-tenant"

_current_tenant: ContextVar[uuid.UUID | None] = ContextVar("patron_tenant", default=None)


def set_current_tenant(tenant_id: uuid.UUID | None) -> None:
    """Called by the server interceptor once it has checked the call's tenant metadata."""
    _current_tenant.set(tenant_id)


def current_tenant() -> uuid.UUID:
    """The tenant the current call acts for; every query a servicer makes carries it."""
    tenant = _current_tenant.get()
    if tenant is None:
        raise Unauthenticated("this call carries no tenant")
    return tenant


@dataclass(frozen=True, slots=True)
class Tenant:
    """A merchant as every service knows it."""

    tenant_id: uuid.UUID
    name: str
    timezone: str
    currency: str
    default_region: str


def validate_tenant(tenant_id: str, name: str, timezone: str, currency: str, region: str) -> Tenant:
    """Check a tenant's settings and return them normalised; raises InvalidArgument naming each field."""
    errors = ViolationCollector()
    parsed_id: uuid.UUID | None = None
    try:
        parsed_id = uuid.UUID(tenant_id)
    except ValueError:
        errors.add("tenant_id", "must be a UUID")
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 200:
        errors.add("name", "must be 1 to 200 characters")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.add("timezone", f"unknown IANA time zone {timezone!r}")
    if not is_tender(currency):
        errors.add("currency", f"must be an ISO 4217 currency code, not {currency!r}")
    if pycountry.countries.get(alpha_2=region.upper()) is None or len(region) != 2:
        errors.add("default_region", f"unknown ISO 3166-1 alpha-2 region {region!r}")
    errors.raise_if_any()
    assert parsed_id is not None
    return Tenant(parsed_id, clean_name, timezone, currency.upper(), region.upper())
