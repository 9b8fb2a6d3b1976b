"""A tenant's API keys: issue (admin, or a key with ``operate``), list, revoke and roll.

The secret is made here (gateway.auth.new_api_key), shown once in the 201 answer with
``Cache-Control: no-store``, and only its SHA-256 reaches the profile service. A key may issue or roll
only keys whose scopes it holds itself (else 403 naming the first scope it lacks), so ``operate``
alone never yields ``privacy``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from gateway.audit import Audit, Auditor, admin_auditor
from gateway.auth import SCOPES, ScopeMissing, new_api_key, require_admin, scoped
from gateway.bound_stubs import BoundStub
from gateway.dependencies import ERRORS, Clients, Tenant, problem_responses
from gateway.limits import NOT_BLANK
from gateway.schemas import StrictBody, UtcDatetime
from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.profile.domain.api_keys import MAX_NAME_LENGTH
from services.runtime.proto_convert import from_timestamp, set_time

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Scope = Literal["ingest", "read", "points", "privacy", "operate", "audit"]
NO_STORE = {"Cache-Control": "no-store"}
OVERLAP_PATTERN = r"^P(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$"


class ApiKeyCreate(StrictBody):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": NOT_BLANK})
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=len(SCOPES),
        description="each scope once",
        json_schema_extra={"uniqueItems": True},
    )
    expires_at: UtcDatetime | None = Field(default=None, description="in the future; null: never expires")


class ApiKeyRoll(StrictBody):
    overlap: str = Field(
        default="PT0S",
        max_length=32,
        description="ISO 8601 duration of days, hours, minutes and seconds, PT0S to P7D: how long the "
        "old key stays valid",
        json_schema_extra={"pattern": OVERLAP_PATTERN},
    )


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it (never the key)")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="updated at most once a minute")
    revoked_at: datetime | None
    rolled_from: str | None = Field(description="the key this one replaced")

    @classmethod
    def from_proto(cls, key: profile_pb2.ApiKey) -> ApiKeyOut:
        def time(name: str) -> datetime | None:
            return from_timestamp(getattr(key, name)) if key.HasField(name) else None

        return cls(
            key_id=key.key_id,
            name=key.name,
            prefix=key.prefix + "…",
            scopes=list(key.scopes),
            created_at=from_timestamp(key.created_at),
            expires_at=time("expires_at"),
            last_used_at=time("last_used_at"),
            revoked_at=time("revoked_at"),
            rolled_from=key.rolled_from or None,
        )


class ApiKeyIssued(ApiKeyOut):
    api_key: str = Field(description="the key itself: shown this once, never again")


class ApiKeyRolled(ApiKeyIssued):
    replaced: ApiKeyOut = Field(description="the old key, with the expiry the overlap gave it")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


def key_stub(clients: Clients, tenant_id: str) -> BoundStub:
    return BoundStub(clients, profile_pb2_grpc.ApiKeyServiceStub, tenant_id)


def require_scopes(tenant: Tenant, wanted: list[str]) -> None:
    """A key hands on only what it holds: 403 naming the first scope the caller lacks."""
    for scope in wanted:
        if scope not in tenant.scopes:
            raise ScopeMissing(scope)


def canonical_id(value: str) -> str:
    """An id as the services list it (lower-case, hyphenated), so that a check made by comparing
    with a listing cannot be passed by another spelling of the same UUID (upper case, no hyphens,
    braces, ``urn:uuid:``), which the service would accept; a malformed id is left for the service
    to answer 404."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


async def require_scopes_of_key(tenant: Tenant, stub: Any, key_id: str) -> None:
    """A key acts only on keys whose scopes it holds (a narrower key can neither roll nor revoke a
    wider one); ``key_id`` must be canonical. An id not in the listing is not the tenant's, and the
    service answers 404 for it."""
    listed = await stub.ListApiKeys(profile_pb2.ListApiKeysRequest())
    for key in listed.items:
        if key.key_id == key_id:
            require_scopes(tenant, list(key.scopes))


async def issue(
    clients: Clients, tenant_id: str, body: ApiKeyCreate, response: Response, audit: Auditor
) -> ApiKeyIssued:
    """Make a key, store its hash and answer it once; audited as ``api_key.issue`` with its scopes
    and expiry (never its name or secret), the new key's id as the target."""
    api_key, digest, prefix = new_api_key()
    request = profile_pb2.IssueApiKeyRequest(
        api_key_sha256=digest, api_key_prefix=prefix, name=body.name, scopes=list(body.scopes)
    )
    set_time(request, "expires_at", body.expires_at)
    issued = await audit.call(
        "api_key.issue",
        key_stub(clients, tenant_id).IssueApiKey(request),
        scopes=list(body.scopes),
        expires_at=body.expires_at,
        result_target=lambda key: key.key_id,
    )
    response.headers.update(NO_STORE)
    return ApiKeyIssued(api_key=api_key, **ApiKeyOut.from_proto(issued).model_dump())


@admin_router.post(
    "/tenants/{tenant_id}/api-keys",
    status_code=201,
    response_model=ApiKeyIssued,
    responses=problem_responses(401, 403, 404, 422, 503, 504),
)
async def admin_issue_api_key(
    tenant_id: str, body: ApiKeyCreate, clients: Clients, request: Request, response: Response
) -> ApiKeyIssued:
    """Issue a key for the tenant (shown once), with the scopes given (audited with actor ``admin``)."""
    try:
        tenant = str(uuid.UUID(tenant_id))
    except ValueError:
        # A malformed id can never be a tenant (and must not reach gRPC metadata as it is).
        raise HTTPException(404, "tenant not found") from None
    return await issue(clients, tenant, body, response, admin_auditor(request, tenant))


@router.post(
    "", status_code=201, response_model=ApiKeyIssued, responses=ERRORS, **scoped("operate", owner_only=True)
)
async def issue_api_key(
    body: ApiKeyCreate, tenant: Tenant, clients: Clients, response: Response, audit: Audit
) -> ApiKeyIssued:
    """Issue another key of the calling tenant (shown once), with scopes the calling key holds."""
    require_scopes(tenant, list(body.scopes))
    return await issue(clients, tenant.tenant_id, body, response, audit)


@router.get("", response_model=ApiKeyList, responses=ERRORS, **scoped("operate", owner_only=True))
async def list_api_keys(tenant: Tenant, clients: Clients) -> ApiKeyList:
    """Every key of the tenant, newest first, revoked ones included; never a secret."""
    listed = await key_stub(clients, tenant.tenant_id).ListApiKeys(profile_pb2.ListApiKeysRequest())
    return ApiKeyList(items=[ApiKeyOut.from_proto(key) for key in listed.items])


@router.delete("/{key_id}", response_model=ApiKeyOut, responses=ERRORS, **scoped("operate", owner_only=True))
async def revoke_api_key(key_id: str, tenant: Tenant, clients: Clients, audit: Audit) -> ApiKeyOut:
    """Revoke the key: every gateway refuses it (401) within 5 s (gateway.auth.MAX_CACHE_SECONDS).
    Only a caller holding every scope of the key may revoke it."""
    key_id = canonical_id(key_id)
    stub = key_stub(clients, tenant.tenant_id)
    await require_scopes_of_key(tenant, stub, key_id)
    revoked = await audit.call(
        "api_key.revoke",
        stub.RevokeApiKey(profile_pb2.RevokeApiKeyRequest(key_id=key_id)),
        target=key_id,
    )
    return ApiKeyOut.from_proto(revoked)


@router.post(
    "/{key_id}/roll",
    status_code=201,
    response_model=ApiKeyRolled,
    responses=ERRORS,
    **scoped("operate", owner_only=True),
)
async def roll_api_key(
    key_id: str, body: ApiKeyRoll, tenant: Tenant, clients: Clients, response: Response, audit: Audit
) -> ApiKeyRolled:
    """A new key with the old one's name, scopes and expiry (shown once); the old one stays valid for
    ``overlap`` (PT0S to P7D), so that clients can move over without a failed call."""
    key_id = canonical_id(key_id)
    stub = key_stub(clients, tenant.tenant_id)
    await require_scopes_of_key(tenant, stub, key_id)
    api_key, digest, prefix = new_api_key()
    async with audit.action("api_key.roll", target=key_id, overlap=body.overlap) as entry:
        rolled = await stub.RollApiKey(
            profile_pb2.RollApiKeyRequest(
                key_id=key_id,
                api_key_sha256=digest,
                api_key_prefix=prefix,
                overlap=body.overlap,
            )
        )
        entry.note(key_id=rolled.key.key_id, expires_at=from_timestamp(rolled.replaced.expires_at))
    response.headers.update(NO_STORE)
    return ApiKeyRolled(
        api_key=api_key,
        replaced=ApiKeyOut.from_proto(rolled.replaced),
        **ApiKeyOut.from_proto(rolled.key).model_dump(),
    )
