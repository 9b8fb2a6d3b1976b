"""Who is calling: a tenant's API key (Bearer) or the admin token.

API keys are random 256-bit tokens; the gateway sends only their SHA-256 to the profile service and
caches a resolved key for ``PATRON_GATEWAY_API_KEY_CACHE_SECONDS`` (so a revoked key stops working
within that time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import grpc
from cachetools import TTLCache
from fastapi import Request
from starlette.exceptions import HTTPException

from gateway.bound_stubs import BoundStub
from gateway.clients import ServiceClients
from gateway.problems import ServiceCallError
from patron.profile.v1 import profile_pb2, profile_pb2_grpc

API_KEY_PREFIX = "ptk_"
_BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="patron"'}


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant a request acts for, resolved from its API key."""

    tenant_id: str
    timezone: str
    currency: str
    scopes: frozenset[str]


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
        self._cache: TTLCache[str, TenantContext] | None = (
            TTLCache(maxsize=100_000, ttl=cache_seconds) if cache_seconds > 0 else None
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
