"""Customers (profile service): identify, read."""

from __future__ import annotations

import json
from datetime import UTC, date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.schemas import (
    Attributes,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    ErasureResponse,
    IdentifyRequest,
    IdentifyResponse,
    IdentityOut,
    MergeRequest,
    MergeResponse,
    TimelineItem,
    TimelinePage,
)
from patron.profile.v1 import profile_pb2

router = APIRouter(prefix="/v1/customers", tags=["customers"])


def attributes_to_proto(attributes: Attributes | None) -> profile_pb2.CustomerAttributes:
    message = profile_pb2.CustomerAttributes()
    if attributes is None:
        return message
    given = attributes.model_dump(exclude_none=True)
    for name in ("nickname", "gender", "province", "city", "registration_channel", "device"):
        if name in given:
            setattr(message, name, given[name])
    if attributes.birthday is not None:
        message.birthday = attributes.birthday.isoformat()
    if attributes.registered_at is not None:
        message.registered_at.FromDatetime(attributes.registered_at.astimezone(UTC))
    if attributes.custom is not None:
        message.custom_json = json.dumps(attributes.custom, ensure_ascii=False)
    return message


def attributes_from_proto(message: profile_pb2.CustomerAttributes) -> Attributes:
    values: dict[str, Any] = {}
    for name in ("nickname", "gender", "province", "city", "registration_channel", "device"):
        if message.HasField(name):
            values[name] = getattr(message, name)
    if message.HasField("birthday"):
        values["birthday"] = date.fromisoformat(message.birthday)
    if message.HasField("registered_at"):
        values["registered_at"] = message.registered_at.ToDatetime(tzinfo=UTC)
    if message.HasField("custom_json"):
        values["custom"] = json.loads(message.custom_json)
    return Attributes.model_construct(**values)


@router.post("/identify", response_model=IdentifyResponse, responses=ERRORS)
async def identify(body: IdentifyRequest, tenant: Tenant, clients: Clients) -> IdentifyResponse:
    """Resolve the identities to one customer, creating it when none matches (``created``)."""
    response = await clients.call(
        "profile",
        clients.customers.Identify,
        profile_pb2.IdentifyRequest(
            identities=[profile_pb2.Identity(type=i.type, value=i.value) for i in body.identities],
            attributes=attributes_to_proto(body.attributes),
        ),
        tenant_id=tenant.tenant_id,
    )
    return IdentifyResponse(
        customer_id=response.customer_id,
        created=response.created,
        merged_customer_ids=list(response.merged_customer_ids),
    )


def customer_out(customer: profile_pb2.Customer) -> CustomerOut:
    return CustomerOut(
        customer_id=customer.customer_id,
        attributes=attributes_from_proto(customer.attributes),
        identities=[IdentityOut(type=i.type, value=i.value) for i in customer.identities],
        created_at=customer.created_at.ToDatetime(tzinfo=UTC),
        updated_at=customer.updated_at.ToDatetime(tzinfo=UTC),
        merged_into=customer.merged_into or None,
    )


@router.get("", response_model=CustomerPage, responses=ERRORS)
async def list_customers(
    tenant: Tenant,
    clients: Clients,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str, Query(max_length=512)] = "",
    identity_type: Annotated[str, Query(max_length=32)] = "",
    identity_value: Annotated[str, Query(max_length=256)] = "",
    gender: Annotated[str | None, Query(max_length=16)] = None,
    province: Annotated[str | None, Query(max_length=100)] = None,
    city: Annotated[str | None, Query(max_length=100)] = None,
    device: Annotated[str | None, Query(max_length=16)] = None,
    registration_channel: Annotated[str | None, Query(max_length=100)] = None,
    tag_id: Annotated[str, Query(max_length=64)] = "",
) -> CustomerPage:
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
    response = await clients.call(
        "profile",
        clients.customers.ListCustomers,
        profile_pb2.ListCustomersRequest(
            limit=limit,
            cursor=cursor,
            identity_type=identity_type,
            identity_value=identity_value,
            attributes=attributes,
            tag_id=tag_id,
        ),
        tenant_id=tenant.tenant_id,
    )
    return CustomerPage(
        items=[customer_out(c) for c in response.items], next_cursor=response.next_cursor or None
    )


@router.get("/{customer_id}", response_model=CustomerOut, responses=ERRORS)
async def get_customer(customer_id: str, tenant: Tenant, clients: Clients) -> CustomerOut:
    """The customer with masked identities; an id merged away answers with the survivor."""
    customer = await clients.call(
        "profile",
        clients.customers.GetCustomer,
        profile_pb2.GetCustomerRequest(customer_id=customer_id),
        tenant_id=tenant.tenant_id,
    )
    return customer_out(customer)


@router.patch("/{customer_id}", response_model=CustomerOut, responses=ERRORS)
async def update_customer(
    customer_id: str, body: CustomerPatch, tenant: Tenant, clients: Clients
) -> CustomerOut:
    """Set attributes; an attribute given as null is cleared (JSON merge-patch)."""
    given = body.attributes.model_dump(exclude_unset=True)
    clear = sorted(name for name, value in given.items() if value is None)
    customer = await clients.call(
        "profile",
        clients.customers.UpdateCustomer,
        profile_pb2.UpdateCustomerRequest(
            customer_id=customer_id, attributes=attributes_to_proto(body.attributes), clear_attributes=clear
        ),
        tenant_id=tenant.tenant_id,
    )
    return customer_out(customer)


@router.post("/{customer_id}/merge", response_model=MergeResponse, responses=ERRORS)
async def merge_customers(
    customer_id: str, body: MergeRequest, tenant: Tenant, clients: Clients
) -> MergeResponse:
    """Fold ``other_customer_id`` into this customer: its identities, history and tags follow."""
    response = await clients.call(
        "profile",
        clients.customers.MergeCustomers,
        profile_pb2.MergeCustomersRequest(customer_id=customer_id, other_customer_id=body.other_customer_id),
        tenant_id=tenant.tenant_id,
    )
    return MergeResponse(
        customer_id=response.customer_id, merged_customer_ids=list(response.merged_customer_ids)
    )


@router.delete("/{customer_id}", response_model=ErasureResponse, responses=ERRORS)
async def erase_customer(customer_id: str, tenant: Tenant, clients: Clients) -> ErasureResponse:
    """Erase the customer's personal data in every service (repeating it changes nothing)."""
    response = await clients.call(
        "profile",
        clients.customers.EraseCustomer,
        profile_pb2.EraseCustomerRequest(customer_id=customer_id),
        tenant_id=tenant.tenant_id,
    )
    return ErasureResponse(
        customer_id=response.customer_id, erased_at=response.erased_at.ToDatetime(tzinfo=UTC)
    )


@router.get("/{customer_id}/export", responses=ERRORS)
async def export_customer(customer_id: str, tenant: Tenant, clients: Clients) -> dict[str, Any]:
    """Everything the profile service holds about the customer, identities in clear (PIPL/GDPR access)."""
    response = await clients.call(
        "profile",
        clients.customers.ExportCustomer,
        profile_pb2.ExportCustomerRequest(customer_id=customer_id),
        tenant_id=tenant.tenant_id,
    )
    exported: dict[str, Any] = json.loads(response.export_json)
    return exported


@router.get("/{customer_id}/timeline", response_model=TimelinePage, responses=ERRORS)
async def timeline(
    customer_id: str,
    tenant: Tenant,
    clients: Clients,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> TimelinePage:
    """What happened to the customer, newest first: behaviour events, orders and refunds, tag and
    consent changes, merges. ``kind`` says which (``event.view``, ``order.paid``, ``tag.changed``…)."""
    response = await clients.call(
        "profile",
        clients.customers.GetTimeline,
        profile_pb2.GetTimelineRequest(customer_id=customer_id, limit=limit, cursor=cursor),
        tenant_id=tenant.tenant_id,
    )
    return TimelinePage(
        items=[
            TimelineItem(
                at=item.at.ToDatetime(tzinfo=UTC),
                kind=item.kind,
                ref=item.ref,
                detail=json.loads(item.detail_json),
            )
            for item in response.items
        ],
        next_cursor=response.next_cursor or None,
    )
