"""The audit log (profile service), read by owners: `GET /v1/audit` with the ``audit`` scope.

One item per audited action, newest first: who (``key:<key_id>``, ``operator:<operator_id>`` or
``admin``), what (``action``, ``target``, ``detail``), from where (``client_address``), when it was
requested and how it ended (``outcome`` succeeded, failed, or unknown when no outcome was recorded:
still running, or its gateway stopped mid-way; ``status``, ``finished_at``, ``result``). Filters:
``action``, ``actor``, ``target``, ``from`` (inclusive) and ``to`` (exclusive); paged with ``limit``
(1-500, default 100) and ``cursor``. Writing is gateway.audit's; docs/security.md "Audit log".
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.bound_stubs import BoundStub
from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.limits import enum_of, one_of
from gateway.schemas import Cursor, Limit, Page, UtcDatetime
from patron.profile.v1 import audit_pb2, audit_pb2_grpc
from services.profile.domain.audit import ACTIONS
from services.runtime.proto_convert import from_timestamp, optional_time, set_time, text_or_none

router = APIRouter(prefix="/v1/audit", tags=["audit"])

ACTOR_PATTERN = "^(?:admin|(?:key|operator):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
ActionName = Annotated[str, one_of(ACTIONS), enum_of(ACTIONS)]
Outcome = Literal["succeeded", "failed", "unknown"]


class AuditItem(BaseModel):
    entry_id: uuid.UUID = Field(description="the requested entry's id")
    request_id: uuid.UUID = Field(description="links the action's requested and outcome entries")
    occurred_at: datetime = Field(description="when the action was requested (before it ran)")
    actor: str = Field(description="key:<key_id>, operator:<operator_id> or admin")
    action: str = Field(description="customer.export, customer.erase, api_key.issue…")
    target: str | None = Field(description="the id acted on (a customer, key, segment, export…)")
    detail: dict[str, Any] = Field(description="what was asked: ids, amounts, scopes (no personal data)")
    client_address: str | None = Field(description="the caller's address as the gateway saw it")
    outcome: Outcome = Field(description="unknown: no outcome recorded (still running, or interrupted)")
    status: int | None = Field(description="the HTTP status answered; null when unknown")
    finished_at: datetime | None = Field(description="when the outcome was recorded")
    result: dict[str, Any] = Field(description="what the outcome noted: ids of what was made or moved")

    @classmethod
    def from_proto(cls, message: audit_pb2.AuditedAction) -> AuditItem:
        return cls(
            entry_id=uuid.UUID(message.entry_id),
            request_id=uuid.UUID(message.request_id),
            occurred_at=from_timestamp(message.occurred_at),
            actor=message.actor,
            action=message.action,
            target=text_or_none(message.target),
            detail=json.loads(message.detail_json or "{}"),
            client_address=text_or_none(message.client_address),
            outcome=cast(Outcome, message.outcome),  # the service's closed vocabulary
            status=message.status or None,
            finished_at=optional_time(message, "finished_at"),
            result=json.loads(message.result_json or "{}"),
        )


@router.get("", response_model=Page[AuditItem], responses=ERRORS, **scoped("audit"))
async def list_audit(
    tenant: Tenant,
    clients: Clients,
    limit: Limit = 100,
    cursor: Cursor = None,
    action: Annotated[ActionName | None, Query()] = None,
    actor: Annotated[str | None, Query(max_length=45, pattern=ACTOR_PATTERN)] = None,
    target: Annotated[uuid.UUID | None, Query(description="the id acted on")] = None,
    occurred_from: Annotated[UtcDatetime | None, Query(alias="from", description="inclusive")] = None,
    occurred_to: Annotated[
        UtcDatetime | None, Query(alias="to", description="exclusive; at or before from: an empty page")
    ] = None,
) -> Page[AuditItem]:
    """The tenant's audited actions (exports, erasures, merges, points adjustments, key and operator
    changes), newest first, each with who, what, when and how it ended."""
    request = audit_pb2.ListAuditRequest(
        limit=limit,
        cursor=cursor or "",
        action=action or "",
        actor=actor or "",
        target=str(target) if target else "",
    )
    set_time(request, "occurred_from", occurred_from)
    set_time(request, "occurred_to", occurred_to)
    log = BoundStub(clients, audit_pb2_grpc.AuditServiceStub, tenant.tenant_id)
    page = await log.List(request)
    return Page[AuditItem].of([AuditItem.from_proto(item) for item in page.items], page.next_cursor)
