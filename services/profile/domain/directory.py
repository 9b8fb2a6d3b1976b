"""The profile use cases: register tenants, resolve API keys, identify and read customers.

The stores are protocols so that these rules never see SQL; ``services.profile.store`` implements them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from cachetools import TTLCache

from services.profile.domain.api_keys import ApiKeys, ResolvedKey, parse_key_hash
from services.profile.domain.customers import (
    ATTRIBUTE_NAMES,
    Customer,
    CustomerAttributes,
    IdentifyResult,
    validate_attributes,
)
from services.profile.domain.identities import IdentityInput, NormalizedIdentity, normalize_identities
from services.profile.domain.listing import Cursor, CustomerQuery, build_query
from services.runtime.errors import InvalidArgument, NotFound, Unauthenticated, ViolationCollector
from services.runtime.tenancy import Tenant

TENANT_CACHE_SECONDS = 60


class TenantStore(Protocol):
    async def create(self, tenant: Tenant, key_sha256: bytes, key_prefix: str) -> datetime: ...
    async def get(self, tenant_id: uuid.UUID) -> Tenant | None: ...
    async def resolve_key(self, key_sha256: bytes) -> tuple[Tenant, ResolvedKey] | None: ...


class CustomerStore(Protocol):
    async def identify(
        self,
        tenant_id: uuid.UUID,
        identities: Sequence[NormalizedIdentity],
        attributes: CustomerAttributes,
    ) -> IdentifyResult: ...

    async def get(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Customer | None: ...

    async def update(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        attributes: CustomerAttributes,
        clear: Sequence[str],
    ) -> Customer | None: ...

    async def merge(
        self, tenant_id: uuid.UUID, survivor_id: uuid.UUID, other_id: uuid.UUID
    ) -> list[uuid.UUID]: ...

    async def page(
        self, tenant_id: uuid.UUID, query: CustomerQuery
    ) -> tuple[list[Customer], Cursor | None]: ...


class TenantRegistry:
    """Tenants and their API keys. Keys are stored only as SHA-256; the key itself is shown once."""

    def __init__(self, store: TenantStore, keys: ApiKeys | None = None) -> None:
        self._store = store
        self._keys = keys
        self._cache: TTLCache[uuid.UUID, Tenant] = TTLCache(maxsize=10_000, ttl=TENANT_CACHE_SECONDS)

    async def create(self, tenant: Tenant, api_key_sha256: str, api_key_prefix: str) -> datetime:
        key_hash = parse_key_hash(api_key_sha256)
        if not api_key_prefix or len(api_key_prefix) > 16:
            raise InvalidArgument.single("api_key_prefix", "must be 1 to 16 characters")
        return await self._store.create(tenant, key_hash, api_key_prefix)

    async def resolve_key(self, api_key_sha256: str) -> tuple[Tenant, ResolvedKey]:
        """The tenant of a valid key (not revoked, not expired) and what it may do; its last use is
        recorded (at most once a minute: the gateway asks again only when its cache expires)."""
        found = await self._store.resolve_key(parse_key_hash(api_key_sha256))
        if found is None:
            raise Unauthenticated("unknown, revoked or expired API key")
        if self._keys is not None:
            await self._keys.note_use(found[0].tenant_id, found[1])
        return found

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        """The tenant's settings (cached for a minute: they change rarely and every call needs them)."""
        tenant = self._cache.get(tenant_id)
        if tenant is None:
            tenant = await self._store.get(tenant_id)
            if tenant is None:
                raise NotFound("tenant not found")
            self._cache[tenant_id] = tenant
        return tenant


class CustomerDirectory:
    """One view of every customer: identities resolve to one customer."""

    def __init__(self, customers: CustomerStore, tenants: TenantRegistry) -> None:
        self._customers = customers
        self._tenants = tenants

    async def identify(
        self, tenant_id: uuid.UUID, identities: Sequence[IdentityInput], attributes: CustomerAttributes
    ) -> IdentifyResult:
        """Find the customer these identities belong to, or create one; attach new identities to it."""
        tenant = await self._tenants.get(tenant_id)
        normalized = normalize_identities(identities, tenant.default_region)
        now = datetime.now(UTC)
        validate_attributes(attributes, now.astimezone(ZoneInfo(tenant.timezone)).date(), now)
        return await self._customers.identify(tenant_id, normalized, attributes)

    async def get(self, tenant_id: uuid.UUID, customer_id: str) -> Customer:
        """The customer; an id that is malformed, unknown or another tenant's is simply not found."""
        customer = await self._customers.get(tenant_id, parse_customer_id(customer_id))
        if customer is None:
            raise NotFound("customer not found")
        return customer

    async def list_page(
        self,
        tenant_id: uuid.UUID,
        *,
        limit: int,
        cursor: str,
        identity_type: str,
        identity_value: str,
        attributes: Mapping[str, str],
        tag_id: str,
    ) -> tuple[list[Customer], str]:
        """A page of live customers, newest first, and the cursor of the next page ("" at the end)."""
        tenant = await self._tenants.get(tenant_id)
        query = build_query(
            limit=limit,
            cursor=cursor,
            identity_type=identity_type,
            identity_value=identity_value,
            attributes=attributes,
            tag_id=tag_id,
            default_region=tenant.default_region,
        )
        items, next_cursor = await self._customers.page(tenant_id, query)
        return items, next_cursor.encode() if next_cursor else ""

    async def update(
        self, tenant_id: uuid.UUID, customer_id: str, attributes: CustomerAttributes, clear: Sequence[str]
    ) -> Customer:
        """Set the given attributes and clear the named ones (a PATCH); same rules as identify."""
        errors = ViolationCollector()
        for name in clear:
            if name not in ATTRIBUTE_NAMES:
                errors.add(f"attributes.{name}", "is not a known attribute")
            elif name in attributes.given():
                errors.add(f"attributes.{name}", "cannot be set and cleared at once")
        errors.raise_if_any()
        tenant = await self._tenants.get(tenant_id)
        now = datetime.now(UTC)
        validate_attributes(attributes, now.astimezone(ZoneInfo(tenant.timezone)).date(), now)
        customer = await self._customers.update(tenant_id, parse_customer_id(customer_id), attributes, clear)
        if customer is None:
            raise NotFound("customer not found")
        return customer

    async def merge(self, tenant_id: uuid.UUID, customer_id: str, other_customer_id: str) -> list[uuid.UUID]:
        """Fold the other customer into this one (the survivor is the one in the path)."""
        survivor = parse_customer_id(customer_id)
        try:
            other = uuid.UUID(other_customer_id)
        except ValueError:
            raise InvalidArgument.single("other_customer_id", "must be a customer id") from None
        if other == survivor:
            raise InvalidArgument.single("other_customer_id", "must differ from the customer id")
        try:
            return await self._customers.merge(tenant_id, survivor, other)
        except LookupError as missing:
            # One rule for unknown ids (docs/api-conventions.md): the path's is 404, a body's is 422.
            if missing.args[0] == "other_customer_id":
                raise InvalidArgument.single("other_customer_id", "no such customer") from None
            raise NotFound("customer not found") from None


def parse_customer_id(customer_id: str) -> uuid.UUID:
    """A customer id; a malformed one can never exist, so it is not found (404) rather than invalid."""
    try:
        return uuid.UUID(customer_id)
    except ValueError:
        raise NotFound("customer not found") from None
