"""A data subject's rights across the four services: the whole export, and how far an erasure got.

Profile is asked first: it decides whether the customer exists in the tenant (404 otherwise) and knows
who was merged into whom; loyalty, scoring and notify are then asked at once, each for the customer
and the ids merged into it. An export with a service missing is never answered: a copy that looks
whole but is not is worse than a retry (503 naming the services). docs/security.md, "Privacy: export
and erasure".
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.exceptions import HTTPException
from pydantic import BaseModel, Field

from gateway.audit import Audit
from gateway.auth import scoped
from gateway.bound_stubs import BoundStub
from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.problems import ServiceCallError, problem_for_rpc_error
from patron.common.v1 import privacy_pb2, privacy_pb2_grpc
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1/customers", tags=["privacy"])

# The services asked after profile, in the order their sections appear.
OTHER_SERVICES = ("loyalty", "scoring", "notify")
# The whole of one service's export stream (its sections are bounded: runtime.privacy.MAX_EXPORT_ROWS).
EXPORT_DEADLINE_SECONDS = 30.0

ErasureState = Literal["done", "pending", "unknown"]


class ExportIncomplete(HTTPException):
    """503 for an export a service could not add its part to; the problem names each such service."""

    def __init__(self, failures: dict[str, str]) -> None:
        names = ", ".join(sorted(failures))
        super().__init__(
            503,
            f"the export is incomplete without the {names} service{'s' if len(failures) > 1 else ''}"
            " and is not answered in part; retry later",
        )
        self.extensions = {"reason": "EXPORT_INCOMPLETE", "services": failures}


class ServiceErasure(BaseModel):
    status: ErasureState = Field(
        description="done: the service has erased the customer; pending: not yet (it applies the "
        "erasure from profile's event stream); unknown: the service could not be asked"
    )
    erased_at: datetime | None = Field(description="when the service finished (done only)")
    reason: str | None = Field(default=None, description="why unknown: the gRPC status of the call")


class ErasureStatusOut(BaseModel):
    customer_id: str = Field(description="the erased customer (the survivor of its merges)")
    status: ErasureState = Field(
        description="done when every service is done; unknown when a service could not be asked; else pending"
    )
    profile: ServiceErasure
    loyalty: ServiceErasure
    scoring: ServiceErasure
    notify: ServiceErasure


def _privacy(clients: Clients, tenant: Tenant, service: str) -> BoundStub:
    return BoundStub(clients, privacy_pb2_grpc.CustomerPrivacyStub, tenant.tenant_id, service=service)


async def _export_of(stub: BoundStub, request: privacy_pb2.ExportCustomerDataRequest) -> dict[str, Any]:
    """One service's sections, put back together from its parts."""
    sections: dict[str, Any] = {}
    async for part in stub.ExportCustomerData.stream(request, deadline_seconds=EXPORT_DEADLINE_SECONDS):
        value = json.loads(part.json)
        if part.is_object:
            sections[part.section] = value
        else:
            sections.setdefault(part.section, []).extend(value)
    return sections


def _client_fault(error: ServiceCallError) -> bool:
    """A refusal the client must act on (EXPORT_TOO_LARGE, say), not an outage that a retry ends."""
    return problem_for_rpc_error(error.error, error.service).status_code < 500


@router.get("/{customer_id}/export", responses=ERRORS, **scoped("privacy"))
async def export_customer(customer_id: str, tenant: Tenant, clients: Clients, audit: Audit) -> dict[str, Any]:
    """Everything Patron holds about the customer (PIPL/GDPR access): profile's data at the top level,
    identities in clear, then each service's part under its name — ``loyalty`` (points, every ledger
    entry, lots, sign-ins, membership and tier history, coupons), ``scoring`` (its projection, grades,
    lifecycle, predictions, segments, the facts behind them) and ``notify`` (messages with contacts
    masked, consents, suppressions, journeys and their steps, campaigns). Complete or not answered:
    503 ``EXPORT_INCOMPLETE`` naming the services that failed; 409 ``EXPORT_TOO_LARGE`` when a section
    holds more than 200,000 rows. Audited as ``customer.export``."""
    async with audit.action("customer.export", target=customer_id):
        return await _gathered_export(customer_id, tenant, clients)


async def _gathered_export(customer_id: str, tenant: Tenant, clients: Clients) -> dict[str, Any]:
    """Profile's part first (it knows the customer and who was merged into it), then the other
    services' parts at once; complete or an error."""
    request = privacy_pb2.ExportCustomerDataRequest(customer_id=customer_id)
    exported = await _export_of(_privacy(clients, tenant, "profile"), request)
    others = privacy_pb2.ExportCustomerDataRequest(
        customer_id=exported["customer_id"], merged_customer_ids=exported.get("merged_customer_ids", [])
    )
    parts = await asyncio.gather(
        *(_export_of(_privacy(clients, tenant, name), others) for name in OTHER_SERVICES),
        return_exceptions=True,
    )
    failures: dict[str, str] = {}
    for name, part in zip(OTHER_SERVICES, parts, strict=True):
        if isinstance(part, ServiceCallError):
            if _client_fault(part):
                raise part
            failures[name] = part.error.code().name
        elif isinstance(part, BaseException):
            raise part
        else:
            exported[name] = part
    if failures:
        raise ExportIncomplete(failures)
    return exported


async def _erasure_of(stub: BoundStub, customer_id: str) -> ServiceErasure:
    """A service's erasure status; a service that cannot be asked is ``unknown`` (never a 5xx)."""
    try:
        status = await stub.GetErasureStatus(privacy_pb2.ErasureStatusRequest(customer_id=customer_id))
    except ServiceCallError as error:
        return ServiceErasure(status="unknown", erased_at=None, reason=error.error.code().name)
    if not status.done:
        return ServiceErasure(status="pending", erased_at=None)
    return ServiceErasure(status="done", erased_at=from_timestamp(status.erased_at))


@router.get("/{customer_id}/erasure", response_model=ErasureStatusOut, responses=ERRORS, **scoped("privacy"))
async def erasure_status(customer_id: str, tenant: Tenant, clients: Clients) -> ErasureStatusOut:
    """How far the customer's erasure got in each service: profile erases at once (the ``DELETE``),
    the others when they apply its event, each recording when it finished. 404 for a customer that
    does not exist in the tenant or was never erased; any id of an erased person (one merged into it)
    answers for the person."""
    profile = await _privacy(clients, tenant, "profile").GetErasureStatus(
        privacy_pb2.ErasureStatusRequest(customer_id=customer_id)
    )
    erased = profile.customer_id
    loyalty, scoring, notify = await asyncio.gather(
        *(_erasure_of(_privacy(clients, tenant, name), erased) for name in OTHER_SERVICES)
    )
    services = [loyalty, scoring, notify]
    overall: ErasureState = "done"
    if any(s.status == "unknown" for s in services):
        overall = "unknown"
    elif any(s.status == "pending" for s in services):
        overall = "pending"
    return ErasureStatusOut(
        customer_id=erased,
        status=overall,
        profile=ServiceErasure(status="done", erased_at=from_timestamp(profile.erased_at)),
        loyalty=loyalty,
        scoring=scoring,
        notify=notify,
    )
