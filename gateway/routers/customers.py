"""Customers (profile service): identify, read."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.audit import Audit, audit_target
from gateway.auth import scoped
from gateway.dependencies import ERRORS, Gathered, Profile, Tenant
from gateway.limits import enum_of, one_of
from gateway.schemas import (
    Attributes,
    Cursor,
    CustomerOut,
    CustomerPatch,
    Device,
    ErasureResponse,
    Gender,
    IdentifyRequest,
    IdentifyResponse,
    Limit,
    MergeRequest,
    MergeResponse,
    Page,
    TimelineItem,
)
from patron.profile.v1 import profile_pb2
from services.profile.domain.customers import MAX_TEXT_LENGTH
from services.profile.domain.identities import IDENTITY_TYPES, MAX_IDENTITY_LENGTH
from services.runtime.proto_convert import from_timestamp, set_time

router = APIRouter(prefix="/v1/customers", tags=["customers"])

IdentityType = Annotated[str, one_of(IDENTITY_TYPES), enum_of(IDENTITY_TYPES)]


def attributes_to_proto(attributes: Attributes | None) -> profile_pb2.CustomerAttributes:
    """The attributes a client gave; absent ones stay unset."""
    message = profile_pb2.CustomerAttributes()
    if attributes is None:
        return message
    given = attributes.model_dump(exclude_none=True)
    for name in ("nickname", "gender", "province", "city", "registration_channel", "device", "timezone"):
        if name in given:
            setattr(message, name, given[name])
    if attributes.birthday is not None:
        message.birthday = attributes.birthday.isoformat()
    set_time(message, "registered_at", attributes.registered_at)
    if attributes.custom is not None:
        message.custom_json = json.dumps(attributes.custom, ensure_ascii=False)
    return message


@router.post("/identify", response_model=IdentifyResponse, responses=ERRORS, **scoped("ingest"))
async def identify(body: IdentifyRequest, tenant: Tenant, gathered: Gathered) -> IdentifyResponse:
    """Resolve the identities to one customer, creating it when none matches (``created``).

    Concurrent calls of the tenant are answered together when the profile service is busy
    (gateway.gathered_calls); a call the batch leaves unsettled is sent alone, for its exact answer.
    """
    request = profile_pb2.IdentifyRequest(
        identities=[i.to_proto() for i in body.identities],
        attributes=attributes_to_proto(body.attributes),
    )
    return IdentifyResponse.from_proto(await gathered.identify(tenant.tenant_id, request))


@router.get("", response_model=Page[CustomerOut], responses=ERRORS, **scoped("read"))
async def list_customers(
    profile: Profile,
    limit: Limit = 50,
    cursor: Cursor = None,
    identity_type: Annotated[IdentityType | None, Query(description="with identity_value")] = None,
    identity_value: Annotated[
        str | None,
        Query(
            min_length=1, max_length=MAX_IDENTITY_LENGTH, description="with identity_type; a phone must parse"
        ),
    ] = None,
    gender: Annotated[Gender | None, Query()] = None,
    province: Annotated[str | None, Query(max_length=MAX_TEXT_LENGTH)] = None,
    city: Annotated[str | None, Query(max_length=MAX_TEXT_LENGTH)] = None,
    device: Annotated[Device | None, Query()] = None,
    registration_channel: Annotated[str | None, Query(max_length=MAX_TEXT_LENGTH)] = None,
    tag_id: Annotated[uuid.UUID | None, Query(description="an unexpired tag of this tenant")] = None,
) -> Page[CustomerOut]:
    """Live customers, newest first; filter by an identity (exact, found through its keyed hash), by
    attributes (equality) and by an unexpired tag. Names and identities come masked."""
    attributes = {
        name: value
        for name, value in {
            "gender": gender,
            "province": province,
            "city": city,
            "device": device,
            "registration_channel": registration_channel,
        }.items()
        if value is not None
    }
    request = profile_pb2.ListCustomersRequest(
        limit=limit,
        cursor=cursor or "",
        identity_type=identity_type or "",
        identity_value=identity_value or "",
        attributes=attributes,
        tag_id=str(tag_id) if tag_id is not None else "",
    )
    page = await profile.customers.ListCustomers(request)
    return Page[CustomerOut].of([CustomerOut.from_proto(c) for c in page.items], page.next_cursor)


@router.get("/{customer_id}", response_model=CustomerOut, responses=ERRORS, **scoped("read"))
async def get_customer(customer_id: str, profile: Profile) -> CustomerOut:
    """The customer with masked identities; an id merged away answers with the survivor."""
    request = profile_pb2.GetCustomerRequest(customer_id=customer_id)
    return CustomerOut.from_proto(await profile.customers.GetCustomer(request))


@router.patch("/{customer_id}", response_model=CustomerOut, responses=ERRORS, **scoped("ingest"))
async def update_customer(customer_id: str, body: CustomerPatch, profile: Profile) -> CustomerOut:
    """Set attributes; an attribute given as null is cleared (JSON merge-patch)."""
    given = body.attributes.model_dump(exclude_unset=True)
    clear = sorted(name for name, value in given.items() if value is None)
    request = profile_pb2.UpdateCustomerRequest(
        customer_id=customer_id, attributes=attributes_to_proto(body.attributes), clear_attributes=clear
    )
    return CustomerOut.from_proto(await profile.customers.UpdateCustomer(request))


@router.post("/{customer_id}/merge", response_model=MergeResponse, responses=ERRORS, **scoped("privacy"))
async def merge_customers(
    customer_id: str, body: MergeRequest, profile: Profile, audit: Audit
) -> MergeResponse:
    """Fold ``other_customer_id`` into this customer: its identities, history and tags follow."""
    request = profile_pb2.MergeCustomersRequest(
        customer_id=customer_id, other_customer_id=body.other_customer_id
    )
    other = audit_target(body.other_customer_id) or None
    async with audit.action("customer.merge", target=customer_id, other_customer_id=other) as entry:
        response = await profile.customers.MergeCustomers(request)
        merged = list(response.merged_customer_ids)
        entry.note(customer_id=response.customer_id, merged=len(merged), merged_customer_ids=merged[:50])
    return MergeResponse(
        customer_id=response.customer_id, merged_customer_ids=list(response.merged_customer_ids)
    )


@router.delete("/{customer_id}", response_model=ErasureResponse, responses=ERRORS, **scoped("privacy"))
async def erase_customer(customer_id: str, profile: Profile, audit: Audit) -> ErasureResponse:
    """Erase the customer's personal data in every service (repeating it changes nothing)."""
    response = await audit.call(
        "customer.erase",
        profile.customers.EraseCustomer(profile_pb2.EraseCustomerRequest(customer_id=customer_id)),
        target=customer_id,
    )
    return ErasureResponse(customer_id=response.customer_id, erased_at=from_timestamp(response.erased_at))


@router.get("/{customer_id}/timeline", response_model=Page[TimelineItem], responses=ERRORS, **scoped("read"))
async def timeline(
    customer_id: str, profile: Profile, limit: Limit = 100, cursor: Cursor = None
) -> Page[TimelineItem]:
    """What happened to the customer, newest first: behaviour events, orders and refunds, tag and
    consent changes, merges. ``kind`` says which (``event.view``, ``order.paid``, ``tag.changed``…)."""
    request = profile_pb2.GetTimelineRequest(customer_id=customer_id, limit=limit, cursor=cursor or "")
    page = await profile.customers.GetTimeline(request)
    return Page[TimelineItem].of([TimelineItem.from_proto(item) for item in page.items], page.next_cursor)
