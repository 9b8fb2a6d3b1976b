"""A tenant's operators: created by the admin for a tenant, or managed by the tenant's owners.

A signed-in operator must be an owner (``owner_only``); a key needs ``operate`` and, like for keys,
hands on only what it holds: it may create an operator, or give one a role, only when it holds every
scope of that role, and set a password only for an operator whose role's scopes it holds (a new
password is that operator's access). Disabling an operator, or setting its password, ends its
sessions at once; the tenant's last active owner can be neither demoted nor disabled (409).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from gateway.audit import Audit, Auditor, admin_auditor
from gateway.auth import Authenticator, require_admin, scoped
from gateway.bound_stubs import BoundStub
from gateway.dependencies import ERRORS, Clients, Tenant, problem_responses
from gateway.routers.api_keys import canonical_id, require_scopes
from gateway.routers.session import EMAIL_PATTERN, HASHING_DEADLINE_SECONDS
from gateway.schemas import StrictBody
from gateway.sessions_roles import ROLE_SCOPES
from patron.profile.v1 import operators_pb2, operators_pb2_grpc
from services.profile.domain.operators import MAX_EMAIL_LENGTH
from services.profile.domain.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1/operators", tags=["operators"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Role = Literal["owner", "marketer", "analyst", "support"]
Password = Field(
    min_length=MIN_PASSWORD_LENGTH,
    max_length=MAX_PASSWORD_LENGTH,
    description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, not the e-mail",
)


class OperatorCreate(StrictBody):
    email: str = Field(
        min_length=1, max_length=MAX_EMAIL_LENGTH, json_schema_extra={"pattern": EMAIL_PATTERN}
    )
    password: str = Password
    role: Role


class OperatorUpdate(StrictBody):
    role: Role | None = None
    disabled: bool | None = Field(default=None, description="true ends the operator's sessions at once")
    password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description="a new password; ends the operator's sessions",
    )


class OperatorOut(BaseModel):
    operator_id: str
    email: str = Field(description="as kept: lower case")
    role: str
    created_at: datetime
    disabled_at: datetime | None
    last_sign_in_at: datetime | None

    @classmethod
    def from_proto(cls, operator: operators_pb2.Operator) -> OperatorOut:
        def time(name: str) -> datetime | None:
            return from_timestamp(getattr(operator, name)) if operator.HasField(name) else None

        return cls(
            operator_id=operator.operator_id,
            email=operator.email,
            role=operator.role,
            created_at=from_timestamp(operator.created_at),
            disabled_at=time("disabled_at"),
            last_sign_in_at=time("last_sign_in_at"),
        )


class OperatorList(BaseModel):
    items: list[OperatorOut]


def operator_stub(clients: Clients, tenant_id: str) -> BoundStub:
    return BoundStub(clients, operators_pb2_grpc.OperatorServiceStub, tenant_id)


async def create(clients: Clients, tenant_id: str, body: OperatorCreate, audit: Auditor) -> OperatorOut:
    """Create the operator, audited as ``operator.create`` with its role (never its e-mail or
    password), the new operator's id as the target."""
    created = await audit.call(
        "operator.create",
        operator_stub(clients, tenant_id).CreateOperator(
            operators_pb2.CreateOperatorRequest(email=body.email, password=body.password, role=body.role),
            deadline_seconds=HASHING_DEADLINE_SECONDS,
        ),
        role=body.role,
        result_target=lambda operator: operator.operator_id,
    )
    return OperatorOut.from_proto(created)


@admin_router.post(
    "/tenants/{tenant_id}/operators",
    status_code=201,
    response_model=OperatorOut,
    responses=problem_responses(401, 403, 404, 409, 422, 503, 504),
)
async def admin_create_operator(
    tenant_id: str, body: OperatorCreate, clients: Clients, request: Request
) -> OperatorOut:
    """Create an operator of the tenant (its first owner, typically)."""
    try:
        tenant = str(uuid.UUID(tenant_id))
    except ValueError:
        raise HTTPException(404, "tenant not found") from None
    return await create(clients, tenant, body, admin_auditor(request, tenant))


@router.get("", response_model=OperatorList, responses=ERRORS, **scoped("operate", owner_only=True))
async def list_operators(tenant: Tenant, clients: Clients) -> OperatorList:
    """Every operator of the tenant, oldest first, disabled ones included; never a password."""
    listed = await operator_stub(clients, tenant.tenant_id).ListOperators(
        operators_pb2.ListOperatorsRequest()
    )
    return OperatorList(items=[OperatorOut.from_proto(item) for item in listed.items])


@router.post(
    "", status_code=201, response_model=OperatorOut, responses=ERRORS, **scoped("operate", owner_only=True)
)
async def create_operator(
    body: OperatorCreate, tenant: Tenant, clients: Clients, audit: Audit
) -> OperatorOut:
    """Create an operator of the calling tenant with a role whose scopes the caller holds."""
    require_scopes(tenant, sorted(ROLE_SCOPES[body.role]))
    return await create(clients, tenant.tenant_id, body, audit)


@router.patch(
    "/{operator_id}", response_model=OperatorOut, responses=ERRORS, **scoped("operate", owner_only=True)
)
async def update_operator(
    operator_id: str, body: OperatorUpdate, tenant: Tenant, clients: Clients, request: Request, audit: Audit
) -> OperatorOut:
    """Change an operator's role, disable (or enable) it, or set its password; what is left out (or
    null) stays as it is."""
    operator_id = canonical_id(operator_id)
    stub = operator_stub(clients, tenant.tenant_id)
    if body.role is not None:
        require_scopes(tenant, sorted(ROLE_SCOPES[body.role]))
    # Any change needs the scopes of the operator's present role too: a narrower key can neither
    # take over (a password), lock out (disable) nor demote a wider operator. An id not in the
    # listing is not the tenant's, and the service answers 404 for it.
    listed = await stub.ListOperators(operators_pb2.ListOperatorsRequest())
    for item in listed.items:
        if item.operator_id == operator_id:
            require_scopes(tenant, sorted(ROLE_SCOPES.get(item.role, frozenset())))
    change = operators_pb2.UpdateOperatorRequest(operator_id=operator_id)
    if body.role is not None:
        change.role = body.role
    if body.disabled is not None:
        change.disabled = body.disabled
    if body.password is not None:
        change.password = body.password
    updated = await audit.call(
        "operator.update",
        stub.UpdateOperator(change, deadline_seconds=HASHING_DEADLINE_SECONDS),
        target=operator_id,
        role=body.role,
        disabled=body.disabled,
        password_set=body.password is not None,
    )
    authenticator: Authenticator = request.app.state.authenticator
    authenticator.forget_operator(updated.operator_id)
    return OperatorOut.from_proto(updated)
