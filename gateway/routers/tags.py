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
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Profile
from gateway.limits import NOT_BLANK, documented, enum_of, one_of
from gateway.schemas import Cursor, Limit, Page, StrictBody, UtcDatetime
from patron.profile.v1 import tags_pb2
from services.profile.domain.tags import KINDS, MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from services.runtime.proto_convert import from_timestamp, optional_time, set_optional, set_time

router = APIRouter(tags=["tags"])


Kind = Annotated[str, one_of(KINDS), enum_of(KINDS)]
# Printable characters, unique case-insensitively within the parent (the profile service's rules).
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), documented(pattern=NOT_BLANK)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]


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
    def from_proto(cls, message: tags_pb2.TagGroup) -> TagGroupOut:
        return cls(
            group_id=message.group_id,
            kind=message.kind,
            name=message.name,
            description=message.description,
            tag_count=message.tag_count,
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
        )


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
    def from_proto(cls, message: tags_pb2.Tag) -> TagOut:
        return cls(
            tag_id=message.tag_id,
            group_id=message.group_id,
            kind=message.kind,
            name=message.name,
            description=message.description,
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
        )


class CustomerTagIn(StrictBody):
    expires_at: UtcDatetime | None = Field(
        default=None, description="when the tag stops applying; absent: never"
    )


class CustomerTagOut(BaseModel):
    tag_id: str
    group_id: str
    kind: Kind
    name: str
    source: str = Field(description='"manual", or the service that computed it')
    expires_at: datetime | None
    applied_at: datetime = Field(description="when the assignment last changed")

    @classmethod
    def from_proto(cls, message: tags_pb2.CustomerTag) -> CustomerTagOut:
        return cls(
            tag_id=message.tag.tag_id,
            group_id=message.tag.group_id,
            kind=message.tag.kind,
            name=message.tag.name,
            source=message.source,
            expires_at=optional_time(message, "expires_at"),
            applied_at=from_timestamp(message.applied_at),
        )


class CustomerTagApplied(CustomerTagOut):
    changed: bool = Field(description="false: it was already so, and nothing was emitted")


# ---- taxonomy ----------------------------------------------------------------------------------


@router.post(
    "/v1/tag-groups", status_code=201, response_model=TagGroupOut, responses=ERRORS, **scoped("operate")
)
async def create_tag_group(body: TagGroupIn, profile: Profile) -> TagGroupOut:
    """Create a group under a kind.

    Names are unique case-insensitively within the kind (409 on a duplicate); a kind holds at most
    100 groups (409 beyond).
    """
    request = tags_pb2.CreateTagGroupRequest(kind=body.kind, name=body.name, description=body.description)
    group = await profile.tags.CreateTagGroup(request)
    return TagGroupOut.from_proto(group)


@router.get("/v1/tag-groups", response_model=Page[TagGroupOut], responses=ERRORS, **scoped("operate"))
async def list_tag_groups(
    profile: Profile, kind: Kind | None = None, limit: Limit = 100, cursor: Cursor = None
) -> Page[TagGroupOut]:
    """Groups ordered by kind and name, optionally of one kind."""
    request = tags_pb2.ListTagGroupsRequest(kind=kind or "", limit=limit, cursor=cursor or "")
    page = await profile.tags.ListTagGroups(request)
    return Page[TagGroupOut].of([TagGroupOut.from_proto(g) for g in page.groups], page.next_cursor)


@router.get("/v1/tag-groups/{group_id}", response_model=TagGroupOut, responses=ERRORS, **scoped("operate"))
async def get_tag_group(group_id: str, profile: Profile) -> TagGroupOut:
    """One group with its number of tags."""
    request = tags_pb2.GetTagGroupRequest(group_id=group_id)
    group = await profile.tags.GetTagGroup(request)
    return TagGroupOut.from_proto(group)


@router.patch("/v1/tag-groups/{group_id}", response_model=TagGroupOut, responses=ERRORS, **scoped("operate"))
async def update_tag_group(group_id: str, body: TagGroupPatch, profile: Profile) -> TagGroupOut:
    """Rename or re-describe a group (its kind is fixed); 409 when the new name is taken."""
    request = tags_pb2.UpdateTagGroupRequest(group_id=group_id)
    set_optional(request, "name", body.name)
    set_optional(request, "description", body.description)
    group = await profile.tags.UpdateTagGroup(request)
    return TagGroupOut.from_proto(group)


@router.delete(
    "/v1/tag-groups/{group_id}",
    status_code=204,
    response_class=Response,
    responses=ERRORS,
    **scoped("operate"),
)
async def delete_tag_group(group_id: str, profile: Profile) -> Response:
    """Delete an empty group; 409 while it holds tags (delete or move them first)."""
    request = tags_pb2.DeleteTagGroupRequest(group_id=group_id)
    await profile.tags.DeleteTagGroup(request)
    return Response(status_code=204)


@router.post("/v1/tags", status_code=201, response_model=TagOut, responses=ERRORS, **scoped("operate"))
async def create_tag(body: TagIn, profile: Profile) -> TagOut:
    """Create a tag in a group.

    Names are unique case-insensitively within the group (409 on a duplicate); a group holds at
    most 1,000 tags (409 beyond); an unknown ``group_id`` answers 422 naming it.
    """
    request = tags_pb2.CreateTagRequest(
        group_id=str(body.group_id), name=body.name, description=body.description
    )
    tag = await profile.tags.CreateTag(request)
    return TagOut.from_proto(tag)


@router.get("/v1/tags", response_model=Page[TagOut], responses=ERRORS, **scoped("operate"))
async def list_tags(
    profile: Profile,
    group_id: uuid.UUID | None = None,
    kind: Kind | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[TagOut]:
    """Tags ordered by name, optionally of one group and/or kind."""
    request = tags_pb2.ListTagsRequest(
        group_id=str(group_id) if group_id else "", kind=kind or "", limit=limit, cursor=cursor or ""
    )
    page = await profile.tags.ListTags(request)
    return Page[TagOut].of([TagOut.from_proto(t) for t in page.tags], page.next_cursor)


@router.get("/v1/tags/{tag_id}", response_model=TagOut, responses=ERRORS, **scoped("operate"))
async def get_tag(tag_id: str, profile: Profile) -> TagOut:
    """One tag with its group and kind."""
    request = tags_pb2.GetTagRequest(tag_id=tag_id)
    return TagOut.from_proto(await profile.tags.GetTag(request))


@router.patch("/v1/tags/{tag_id}", response_model=TagOut, responses=ERRORS, **scoped("operate"))
async def update_tag(tag_id: str, body: TagPatch, profile: Profile) -> TagOut:
    """Rename, re-describe or move a tag; customers keep it. Renames emit no tag.changed."""
    request = tags_pb2.UpdateTagRequest(tag_id=tag_id)
    set_optional(request, "group_id", None if body.group_id is None else str(body.group_id))
    set_optional(request, "name", body.name)
    set_optional(request, "description", body.description)
    return TagOut.from_proto(await profile.tags.UpdateTag(request))


@router.delete(
    "/v1/tags/{tag_id}", status_code=204, response_class=Response, responses=ERRORS, **scoped("operate")
)
async def delete_tag(tag_id: str, profile: Profile) -> Response:
    """Delete a tag and remove it from every customer, in one transaction.

    Each customer that carried it gets a ``tag.changed`` (applied = false); a tag on more than
    10,000 customers answers 409 (``TAG_IN_WIDE_USE``). The name may then be used again.
    """
    request = tags_pb2.DeleteTagRequest(tag_id=tag_id)
    await profile.tags.DeleteTag(request)
    return Response(status_code=204)


# ---- tags on customers ---------------------------------------------------------------------------


@router.put(
    "/v1/customers/{customer_id}/tags/{tag_id}",
    response_model=CustomerTagApplied,
    responses=ERRORS,
    **scoped("operate"),
)
async def tag_customer(
    customer_id: str,
    tag_id: str,
    profile: Profile,
    body: Annotated[CustomerTagIn | None, Body()] = None,
) -> CustomerTagApplied:
    """Tag the customer by hand, optionally until ``expires_at`` (future, at most 10 years ahead).

    Idempotent: the same tag with the same expiry again changes nothing, emits nothing and answers
    ``changed: false``; otherwise one ``tag.changed`` is emitted. One assignment exists per customer
    and tag, with the source that wrote it last: tagging by hand takes over a computed assignment.
    """
    request = tags_pb2.TagCustomerRequest(customer_id=customer_id, tag_id=tag_id)
    set_time(request, "expires_at", body.expires_at if body is not None else None)
    response = await profile.tags.TagCustomer(request)
    applied = CustomerTagOut.from_proto(response.customer_tag)
    return CustomerTagApplied(**applied.model_dump(), changed=response.changed)


@router.delete(
    "/v1/customers/{customer_id}/tags/{tag_id}",
    status_code=204,
    response_class=Response,
    responses=ERRORS,
    **scoped("operate"),
)
async def untag_customer(customer_id: str, tag_id: str, profile: Profile) -> Response:
    """Remove the tag from the customer, whatever its source; removing an absent tag is a no-op."""
    request = tags_pb2.UntagCustomerRequest(customer_id=customer_id, tag_id=tag_id)
    await profile.tags.UntagCustomer(request)
    return Response(status_code=204)


@router.get(
    "/v1/customers/{customer_id}/tags",
    response_model=Page[CustomerTagOut],
    responses=ERRORS,
    **scoped("read"),
)
async def list_customer_tags(
    customer_id: str,
    profile: Profile,
    kind: Kind | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[CustomerTagOut]:
    """The customer's tags ordered by name.

    Expiry is evaluated at read time (``expires_at > now()``): an expired tag is simply not listed,
    no expiry job is involved.
    """
    request = tags_pb2.ListCustomerTagsRequest(
        customer_id=customer_id, kind=kind or "", limit=limit, cursor=cursor or ""
    )
    page = await profile.tags.ListCustomerTags(request)
    return Page[CustomerTagOut].of([CustomerTagOut.from_proto(t) for t in page.tags], page.next_cursor)
