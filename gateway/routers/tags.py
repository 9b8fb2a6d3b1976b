"""Tags (profile service): the taxonomy kind → group → tag, and tags on customers.

- **Kinds** are fixed: `static`, `dynamic`, `preference`, `predictive`. A group belongs to one kind
  (for good: PATCH cannot change it); a tag belongs to one group and may move to another.
- **Names** are 1-64 printable characters, unique case-insensitively within their parent (a group's
  within its kind, a tag's within its group): a duplicate answers 409. Descriptions are at most 500
  characters. A kind holds at most 100 groups and a group at most 1,000 tags (409 beyond).
- **Deleting** a group works only when it holds no tags (409 otherwise). Deleting a tag removes it
  from every customer, with one `tag.changed` (applied = false) per customer, in one transaction;
  a tag on more than 10,000 customers answers 409 instead. Deleted tags and groups no longer appear,
  and their names may be used again.
- **Tagging by hand** (`PUT /v1/customers/{id}/tags/{tag_id}`) is idempotent: the same tag with the
  same expiry again changes nothing and emits nothing (`changed: false`). One assignment exists per
  customer and tag and records who wrote it last: `manual`, or the service that computed it
  (`SetComputedTags` over gRPC, e.g. `scoring`); tagging by hand takes over a computed assignment.
- **Expiry** is evaluated when reading: an assignment whose `expires_at` has passed is not listed;
  no job is needed. `expires_at` must lie in the future, at most 10 years ahead. `tag.changed`
  carries it, so consumers apply the expiry themselves.
- Ids in paths that are unknown or another tenant's answer 404; ids in bodies (`group_id`) answer
  422 naming the field. Lists take `?limit=` (1-500, default 100) and an opaque `cursor`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Response
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.schemas import Cursor, Limit, StrictBody, to_datetime
from patron.profile.v1 import tags_pb2

router = APIRouter(tags=["tags"])


Kind = Literal["static", "dynamic", "preference", "predictive"]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Description = Annotated[str, Field(max_length=500)]


class TagGroupIn(StrictBody):
    kind: Kind
    name: Name
    description: Description = ""


class TagGroupPatch(StrictBody):
    name: Name | None = Field(default=None, description="absent or null: unchanged")
    description: Description | None = Field(default=None, description="absent or null: unchanged")


class TagGroupOut(BaseModel):
    group_id: str
    kind: Kind
    name: str
    description: str
    tag_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: tags_pb2.TagGroup) -> TagGroupOut:
        return cls(
            group_id=message.group_id,
            kind=message.kind,
            name=message.name,
            description=message.description,
            tag_count=message.tag_count,
            created_at=to_datetime(message.created_at),
            updated_at=to_datetime(message.updated_at),
        )


class TagGroupPage(BaseModel):
    items: list[TagGroupOut]
    next_cursor: str | None


class TagIn(StrictBody):
    group_id: uuid.UUID
    name: Name
    description: Description = ""


class TagPatch(StrictBody):
    group_id: uuid.UUID | None = Field(default=None, description="moves the tag to this group")
    name: Name | None = None
    description: Description | None = None


class TagOut(BaseModel):
    tag_id: str
    group_id: str
    kind: Kind
    name: str
    description: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: tags_pb2.Tag) -> TagOut:
        return cls(
            tag_id=message.tag_id,
            group_id=message.group_id,
            kind=message.kind,
            name=message.name,
            description=message.description,
            created_at=to_datetime(message.created_at),
            updated_at=to_datetime(message.updated_at),
        )


class TagPage(BaseModel):
    items: list[TagOut]
    next_cursor: str | None


class CustomerTagIn(StrictBody):
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the tag stops applying; absent: never"
    )

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """In UTC, as it travels on; a time that has no UTC equivalent (year 0) is refused here."""
        try:
            return value.astimezone(UTC) if value is not None else None
        except OverflowError:
            raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


class CustomerTagOut(BaseModel):
    tag_id: str
    group_id: str
    kind: Kind
    name: str
    source: str = Field(description='"manual", or the service that computed it')
    expires_at: datetime | None
    applied_at: datetime = Field(description="when the assignment last changed")

    @classmethod
    def of(cls, message: tags_pb2.CustomerTag) -> CustomerTagOut:
        return cls(
            tag_id=message.tag.tag_id,
            group_id=message.tag.group_id,
            kind=message.tag.kind,
            name=message.tag.name,
            source=message.source,
            expires_at=to_datetime(message.expires_at) if message.HasField("expires_at") else None,
            applied_at=to_datetime(message.applied_at),
        )


class CustomerTagApplied(CustomerTagOut):
    changed: bool = Field(description="false: it was already so, and nothing was emitted")


class CustomerTagPage(BaseModel):
    items: list[CustomerTagOut]
    next_cursor: str | None


# ---- taxonomy ----------------------------------------------------------------------------------


@router.post("/v1/tag-groups", status_code=201, response_model=TagGroupOut, responses=ERRORS)
async def create_tag_group(body: TagGroupIn, tenant: Tenant, clients: Clients) -> TagGroupOut:
    """Create a group under a kind.

    Names are unique case-insensitively within the kind (409 on a duplicate); a kind holds at most
    100 groups (409 beyond).
    """
    request = tags_pb2.CreateTagGroupRequest(kind=body.kind, name=body.name, description=body.description)
    group = await clients.call("profile", clients.tags.CreateTagGroup, request, tenant_id=tenant.tenant_id)
    return TagGroupOut.of(group)


@router.get("/v1/tag-groups", response_model=TagGroupPage, responses=ERRORS)
async def list_tag_groups(
    tenant: Tenant, clients: Clients, kind: Kind | None = None, limit: Limit = 100, cursor: Cursor = None
) -> TagGroupPage:
    """Groups ordered by kind and name, optionally of one kind."""
    request = tags_pb2.ListTagGroupsRequest(kind=kind or "", limit=limit, cursor=cursor or "")
    page = await clients.call("profile", clients.tags.ListTagGroups, request, tenant_id=tenant.tenant_id)
    return TagGroupPage(items=[TagGroupOut.of(g) for g in page.groups], next_cursor=page.next_cursor or None)


@router.get("/v1/tag-groups/{group_id}", response_model=TagGroupOut, responses=ERRORS)
async def get_tag_group(group_id: str, tenant: Tenant, clients: Clients) -> TagGroupOut:
    """One group with its number of tags."""
    request = tags_pb2.GetTagGroupRequest(group_id=group_id)
    group = await clients.call("profile", clients.tags.GetTagGroup, request, tenant_id=tenant.tenant_id)
    return TagGroupOut.of(group)


@router.patch("/v1/tag-groups/{group_id}", response_model=TagGroupOut, responses=ERRORS)
async def update_tag_group(
    group_id: str, body: TagGroupPatch, tenant: Tenant, clients: Clients
) -> TagGroupOut:
    """Rename or re-describe a group (its kind is fixed); 409 when the new name is taken."""
    request = tags_pb2.UpdateTagGroupRequest(group_id=group_id)
    if body.name is not None:
        request.name = body.name
    if body.description is not None:
        request.description = body.description
    group = await clients.call("profile", clients.tags.UpdateTagGroup, request, tenant_id=tenant.tenant_id)
    return TagGroupOut.of(group)


@router.delete("/v1/tag-groups/{group_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_tag_group(group_id: str, tenant: Tenant, clients: Clients) -> Response:
    """Delete an empty group; 409 while it holds tags (delete or move them first)."""
    request = tags_pb2.DeleteTagGroupRequest(group_id=group_id)
    await clients.call("profile", clients.tags.DeleteTagGroup, request, tenant_id=tenant.tenant_id)
    return Response(status_code=204)


@router.post("/v1/tags", status_code=201, response_model=TagOut, responses=ERRORS)
async def create_tag(body: TagIn, tenant: Tenant, clients: Clients) -> TagOut:
    """Create a tag in a group.

    Names are unique case-insensitively within the group (409 on a duplicate); a group holds at
    most 1,000 tags (409 beyond); an unknown ``group_id`` answers 422 naming it.
    """
    request = tags_pb2.CreateTagRequest(
        group_id=str(body.group_id), name=body.name, description=body.description
    )
    tag = await clients.call("profile", clients.tags.CreateTag, request, tenant_id=tenant.tenant_id)
    return TagOut.of(tag)


@router.get("/v1/tags", response_model=TagPage, responses=ERRORS)
async def list_tags(
    tenant: Tenant,
    clients: Clients,
    group_id: uuid.UUID | None = None,
    kind: Kind | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> TagPage:
    """Tags ordered by name, optionally of one group and/or kind."""
    request = tags_pb2.ListTagsRequest(
        group_id=str(group_id) if group_id else "", kind=kind or "", limit=limit, cursor=cursor or ""
    )
    page = await clients.call("profile", clients.tags.ListTags, request, tenant_id=tenant.tenant_id)
    return TagPage(items=[TagOut.of(t) for t in page.tags], next_cursor=page.next_cursor or None)


@router.get("/v1/tags/{tag_id}", response_model=TagOut, responses=ERRORS)
async def get_tag(tag_id: str, tenant: Tenant, clients: Clients) -> TagOut:
    """One tag with its group and kind."""
    request = tags_pb2.GetTagRequest(tag_id=tag_id)
    return TagOut.of(await clients.call("profile", clients.tags.GetTag, request, tenant_id=tenant.tenant_id))


@router.patch("/v1/tags/{tag_id}", response_model=TagOut, responses=ERRORS)
async def update_tag(tag_id: str, body: TagPatch, tenant: Tenant, clients: Clients) -> TagOut:
    """Rename, re-describe or move a tag; customers keep it. Renames emit no tag.changed."""
    request = tags_pb2.UpdateTagRequest(tag_id=tag_id)
    if body.group_id is not None:
        request.group_id = str(body.group_id)
    if body.name is not None:
        request.name = body.name
    if body.description is not None:
        request.description = body.description
    return TagOut.of(
        await clients.call("profile", clients.tags.UpdateTag, request, tenant_id=tenant.tenant_id)
    )


@router.delete("/v1/tags/{tag_id}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_tag(tag_id: str, tenant: Tenant, clients: Clients) -> Response:
    """Delete a tag and remove it from every customer, in one transaction.

    Each customer that carried it gets a ``tag.changed`` (applied = false); a tag on more than
    10,000 customers answers 409 (``TAG_IN_WIDE_USE``). The name may then be used again.
    """
    request = tags_pb2.DeleteTagRequest(tag_id=tag_id)
    await clients.call("profile", clients.tags.DeleteTag, request, tenant_id=tenant.tenant_id)
    return Response(status_code=204)


# ---- tags on customers ---------------------------------------------------------------------------


@router.put("/v1/customers/{customer_id}/tags/{tag_id}", response_model=CustomerTagApplied, responses=ERRORS)
async def tag_customer(
    customer_id: str,
    tag_id: str,
    tenant: Tenant,
    clients: Clients,
    body: Annotated[CustomerTagIn | None, Body()] = None,
) -> CustomerTagApplied:
    """Tag the customer by hand, optionally until ``expires_at`` (future, at most 10 years ahead).

    Idempotent: the same tag with the same expiry again changes nothing, emits nothing and answers
    ``changed: false``; otherwise one ``tag.changed`` is emitted. One assignment exists per customer
    and tag, with the source that wrote it last: tagging by hand takes over a computed assignment.
    """
    request = tags_pb2.TagCustomerRequest(customer_id=customer_id, tag_id=tag_id)
    if body is not None and body.expires_at is not None:
        request.expires_at.FromDatetime(body.expires_at)
    response = await clients.call("profile", clients.tags.TagCustomer, request, tenant_id=tenant.tenant_id)
    applied = CustomerTagOut.of(response.customer_tag)
    return CustomerTagApplied(**applied.model_dump(), changed=response.changed)


@router.delete(
    "/v1/customers/{customer_id}/tags/{tag_id}", status_code=204, response_class=Response, responses=ERRORS
)
async def untag_customer(customer_id: str, tag_id: str, tenant: Tenant, clients: Clients) -> Response:
    """Remove the tag from the customer, whatever its source; removing an absent tag is a no-op."""
    request = tags_pb2.UntagCustomerRequest(customer_id=customer_id, tag_id=tag_id)
    await clients.call("profile", clients.tags.UntagCustomer, request, tenant_id=tenant.tenant_id)
    return Response(status_code=204)


@router.get("/v1/customers/{customer_id}/tags", response_model=CustomerTagPage, responses=ERRORS)
async def list_customer_tags(
    customer_id: str,
    tenant: Tenant,
    clients: Clients,
    kind: Kind | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> CustomerTagPage:
    """The customer's tags ordered by name.

    Expiry is evaluated at read time (``expires_at > now()``): an expired tag is simply not listed,
    no expiry job is involved.
    """
    request = tags_pb2.ListCustomerTagsRequest(
        customer_id=customer_id, kind=kind or "", limit=limit, cursor=cursor or ""
    )
    page = await clients.call("profile", clients.tags.ListCustomerTags, request, tenant_id=tenant.tenant_id)
    return CustomerTagPage(
        items=[CustomerTagOut.of(t) for t in page.tags], next_cursor=page.next_cursor or None
    )
