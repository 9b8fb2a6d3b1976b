"""Who is calling: a tenant's API key (Bearer) or the admin token.

API keys are random 256-bit tokens; the gateway sends only their SHA-256 to the profile service and
caches a resolved key for ``PATRON_GATEWAY_API_KEY_CACHE_SECONDS``, at most :data:`MAX_CACHE_SECONDS`
(so a revoked or expired key stops working on every replica within that time, whatever the setting).

Operators signed in to the dashboard send the session cookie instead (gateway.sessions): the tenant
and the operator come from the profile service, cached like keys, and a write must carry the
session's CSRF token. An operator's role stands for scopes (gateway.sessions_roles).

Every tenant route declares the scope it needs with ``**scoped("operate")`` in its decorator: the
dependency answers 403 naming the missing scope (or, for an operator, the role), and the OpenAPI
operation carries ``x-scope``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import grpc
from cachetools import TTLCache
from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from gateway.bound_stubs import BoundStub
from gateway.clients import ServiceClients
from gateway.problems import ServiceCallError
from gateway.sessions import check_csrf, session_digest, session_token
from gateway.sessions_roles import ROLE_SCOPES, SAFE_METHODS, check_role
from patron.profile.v1 import operators_pb2, operators_pb2_grpc, profile_pb2, profile_pb2_grpc

API_KEY_PREFIX = "ptk_"
# What a key may be allowed to do (API.md "Access", and ``audit``: reading the audit log); a tenant's
# first key has them all.
SCOPES = ("ingest", "read", "points", "privacy", "operate", "audit")
# A revocation reaches every replica within this bound, whatever the cache setting says.
MAX_CACHE_SECONDS = 5.0
_BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="patron"'}
assert ROLE_SCOPES["owner"] == frozenset(SCOPES), "an owner holds every scope"


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
    """Resolves API keys and operators' sessions through the profile service, each with a short cache."""

    def __init__(self, clients: ServiceClients, admin_token: str, cache_seconds: float) -> None:
        self._tenants = BoundStub(clients, profile_pb2_grpc.TenantServiceStub, tenant_id=None)
        self._sessions = BoundStub(clients, operators_pb2_grpc.SessionServiceStub, tenant_id=None)
        self._admin_token = admin_token.encode()
        ttl = min(cache_seconds, MAX_CACHE_SECONDS)
        self._cache: TTLCache[str, TenantContext] | None = (
            TTLCache(maxsize=100_000, ttl=ttl) if ttl > 0 else None
        )
        # Sessions apart from keys: a sign-out forgets its own entry, a disabled operator all of its.
        self._session_cache: TTLCache[str, TenantContext] | None = (
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

    async def session_for(self, token: str) -> TenantContext:
        """The tenant and operator of a session token (cached at most MAX_CACHE_SECONDS), or 401."""
        digest = session_digest(token)
        if self._session_cache is not None and (cached := self._session_cache.get(digest)) is not None:
            return cached
        try:
            response = await self._sessions.ResolveSession(
                operators_pb2.ResolveSessionRequest(session_sha256=digest)
            )
        except ServiceCallError as error:
            if error.error.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise HTTPException(401, "the session has ended or is unknown: sign in again") from None
            raise
        role = response.operator.role
        context = TenantContext(
            tenant_id=response.tenant.tenant_id,
            timezone=response.tenant.timezone,
            currency=response.tenant.currency,
            scopes=ROLE_SCOPES.get(role, frozenset()),
            operator_id=response.operator.operator_id,
            role=role,
        )
        if self._session_cache is not None:
            self._session_cache[digest] = context
        return context

    def forget_session(self, token: str) -> None:
        """Drop a signed-out session from this replica's cache (the others follow within the bound)."""
        if self._session_cache is not None:
            self._session_cache.pop(session_digest(token), None)

    def forget_operator(self, operator_id: str) -> None:
        """Drop every cached session of an operator (disabled, demoted, new password) on this replica."""
        if self._session_cache is not None:
            for digest, context in list(self._session_cache.items()):
                if context.operator_id == operator_id:
                    self._session_cache.pop(digest, None)


async def authenticate(request: Request) -> TenantContext:
    """The caller: a Bearer key when the request has an Authorization header, else the session
    cookie (then a write must carry the CSRF token: 403 otherwise), else 401."""
    authenticator: Authenticator = request.app.state.authenticator
    token = session_token(request) if "authorization" not in request.headers else ""
    if not token:
        return await authenticator.tenant_for(bearer_token(request))
    context = await authenticator.session_for(token)
    if request.method not in SAFE_METHODS:
        check_csrf(request, token)
    return context


async def require_tenant(request: Request) -> TenantContext:
    """FastAPI dependency: the calling tenant (a key or a signed-in operator), or 401; resolved once
    per request (the scope check and the handler ask alike)."""
    known = getattr(request.state, "patron_tenant", None)
    if isinstance(known, TenantContext):
        return known
    context = await authenticate(request)
    request.state.patron_tenant = context
    return context


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
    owner_only: bool = False
    also_roles: frozenset[str] = frozenset()

    async def __call__(self, request: Request) -> None:
        tenant = await require_tenant(request)
        if tenant.role:
            check_role(
                tenant.role,
                self.scope,
                request.method,
                owner_only=self.owner_only,
                also_roles=self.also_roles,
            )
        elif self.scope not in tenant.scopes:
            raise ScopeMissing(self.scope)


def scope_dependency(scope: str, *, owner_only: bool = False, roles: Collection[str] = ()) -> Any:
    """The dependency that lets only keys holding ``scope`` through (401 without a key, 403 without it),
    and operators whose role allows the route (gateway.sessions_roles.check_role)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    unknown = set(roles) - set(ROLE_SCOPES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return Depends(_ScopeCheck(scope, owner_only, frozenset(roles)))


def scoped(scope: str, *, owner_only: bool = False, roles: Collection[str] = ()) -> dict[str, Any]:
    """A route decorator's keywords declaring its scope: the check, and ``x-scope`` in the OpenAPI so
    that the scope census (tests/test_scope_census.py) sees every route's scope.

    ``owner_only``: an operator must be an owner (keys only need the scope); ``roles``: roles whose
    operators may call the route although their role lacks the scope (support and consent). Both
    show in the OpenAPI (``x-owner-only``, ``x-roles``)."""
    extra: dict[str, Any] = {"x-scope": scope}
    if owner_only:
        extra["x-owner-only"] = True
    if roles:
        extra["x-roles"] = sorted(roles)
    return {
        "dependencies": [scope_dependency(scope, owner_only=owner_only, roles=roles)],
        "openapi_extra": extra,
    }
