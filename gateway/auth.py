"""Who is calling: a tenant's API key (Bearer) or the admin token.

API keys are random 256-bit tokens; the gateway sends only their SHA-256 to the profile service and
caches a resolved key for ``PATRON_GATEWAY_API_KEY_CACHE_SECONDS``, at most :data:`MAX_CACHE_SECONDS`
(so a revoked or expired key stops working on every replica within that time, whatever the setting).

Every tenant route declares the scope it needs with ``**scoped("operate")`` in its decorator: the
dependency answers 403 naming the missing scope, and the OpenAPI operation carries ``x-scope``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import grpc
from cachetools import TTLCache
from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from gateway.bound_stubs import BoundStub
from gateway.clients import ServiceClients
from gateway.problems import ServiceCallError
from patron.profile.v1 import profile_pb2, profile_pb2_grpc

API_KEY_PREFIX = "ptk_"
# What a key may be allowed to do (API.md "Access", and ``audit``: reading the audit log); a tenant's
# first key has them all.
SCOPES = ("ingest", "read", "points", "privacy", "operate", "audit")
# A revocation reaches every replica within this bound, whatever the cache setting says.
MAX_CACHE_SECONDS = 5.0
_BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="patron"'}


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant a request acts for, resolved from its API key."""

    tenant_id: str
    timezone: str
    currency: str
    scopes: frozenset[str]
    key_id: str = ""
    # Set when an operator signs in to the dashboard (a session cookie) instead of a key calling.
    operator_id: str = ""
    role: str = ""

    @property
    def actor(self) -> str:
        """Who acts, as the audit log records it: ``operator:<id>`` or ``key:<id>``."""
        return f"operator:{self.operator_id}" if self.operator_id else f"key:{self.key_id}"


def new_api_key() -> tuple[str, str, str]:
    """A new key, its SHA-256 (hex) and the prefix kept to recognise it."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hashlib.sha256(key.encode()).hexdigest(), key[:12]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "an Authorization: Bearer <key> header is required", headers=_BEARER_CHALLENGE
        )
    return token.strip()


class Authenticator:
    """Resolves API keys through the profile service, with a short cache."""

    def __init__(self, clients: ServiceClients, admin_token: str, cache_seconds: float) -> None:
        self._tenants = BoundStub(clients, profile_pb2_grpc.TenantServiceStub, tenant_id=None)
        self._admin_token = admin_token.encode()
        ttl = min(cache_seconds, MAX_CACHE_SECONDS)
        self._cache: TTLCache[str, TenantContext] | None = (
            TTLCache(maxsize=100_000, ttl=ttl) if ttl > 0 else None
        )

    def is_admin(self, token: str) -> bool:
        return bool(self._admin_token) and hmac.compare_digest(token.encode(), self._admin_token)

    async def tenant_for(self, token: str) -> TenantContext:
        if self.is_admin(token):
            raise HTTPException(403, "the admin token cannot act for a tenant; use the tenant's API key")
        digest = hashlib.sha256(token.encode()).hexdigest()
        if self._cache is not None and (cached := self._cache.get(digest)) is not None:
            return cached
        try:
            response = await self._tenants.ResolveApiKey(
                profile_pb2.ResolveApiKeyRequest(api_key_sha256=digest)
            )
        except ServiceCallError as error:
            if error.error.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise HTTPException(401, "unknown or revoked API key", headers=_BEARER_CHALLENGE) from None
            raise
        context = TenantContext(
            tenant_id=response.tenant.tenant_id,
            timezone=response.tenant.timezone,
            currency=response.tenant.currency,
            scopes=frozenset(response.scopes),
            key_id=response.key_id,
        )
        if self._cache is not None:
            self._cache[digest] = context
        return context


async def require_tenant(request: Request) -> TenantContext:
    """FastAPI dependency: the calling tenant, or 401."""
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.tenant_for(bearer_token(request))


async def require_admin(request: Request) -> None:
    """FastAPI dependency: the admin token, or 403 for a tenant's key, or 401 for anything else."""
    authenticator: Authenticator = request.app.state.authenticator
    token = bearer_token(request)
    if authenticator.is_admin(token):
        return
    if token.startswith(API_KEY_PREFIX):
        raise HTTPException(403, "this endpoint needs the admin token, not a tenant's API key")
    raise HTTPException(401, "invalid admin token", headers=_BEARER_CHALLENGE)


class ScopeMissing(HTTPException):
    """403 for a key that lacks the scope a route needs; the problem names it (``"scope"``)."""

    def __init__(self, scope: str) -> None:
        super().__init__(403, f"this API key lacks the scope {scope!r} that this route needs")
        self.extensions = {"scope": scope, "reason": "SCOPE_MISSING"}


@dataclass(frozen=True, slots=True)
class _ScopeCheck:
    scope: str

    async def __call__(self, request: Request) -> None:
        tenant = await require_tenant(request)
        if self.scope not in tenant.scopes:
            raise ScopeMissing(self.scope)


def scope_dependency(scope: str) -> Any:
    """The dependency that lets only keys holding ``scope`` through (401 without a key, 403 without it)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return Depends(_ScopeCheck(scope))


def scoped(scope: str) -> dict[str, Any]:
    """A route decorator's keywords declaring its scope: the check, and ``x-scope`` in the OpenAPI so
    that the scope census (tests/test_scope_census.py) sees every route's scope."""
    return {"dependencies": [scope_dependency(scope)], "openapi_extra": {"x-scope": scope}}
