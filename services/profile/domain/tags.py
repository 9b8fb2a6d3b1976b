"""Tags: the taxonomy (kind → group → tag), manual tagging with expiry, and computed tags.

Rules decided here (the README records them):
- kinds are fixed (static, dynamic, preference, predictive); a group belongs to one kind, a tag to one
  group; names are 1-64 printable characters, unique case-insensitively among the live children of
  the same parent; at most 100 groups per kind and 1,000 tags per group in a tenant;
- one assignment per customer and tag, carrying the source that last wrote it ("manual" for
  operators, the service's name for computed tags): a write that changes nothing emits nothing;
- expiry is evaluated when reading (``expires_at > now()``); no job is needed to hide expired tags;
- deleting a tag is a soft delete that removes it from every customer (a tag.changed each) in the
  same transaction, refused (409) above 10,000 assignments; a group is deleted only when empty.

The stores are protocols so that these rules never see SQL; ``services.profile.store.tags`` and
``services.profile.store.customer_tags`` implement them and raise NotFound / AlreadyExists /
Conflict for what only the database can tell.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.runtime.errors import NotFound, ViolationCollector
from services.runtime.paging import Page, decode_cursor, page_size

KINDS: tuple[str, ...] = ("static", "dynamic", "preference", "predictive")
MANUAL_SOURCE = "manual"
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 500
MAX_GROUPS_PER_KIND = 100
MAX_TAGS_PER_GROUP = 1_000
MAX_COMPUTED_TAGS_PER_CALL = 500
MAX_UNTAGGED_ON_DELETE = 10_000
MAX_EXPIRY = timedelta(days=3_660)
_SOURCE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

GroupKey = tuple[str, str, uuid.UUID]  # kind, name_key, group_id: the order of group listings
TagKey = tuple[str, uuid.UUID]  # name_key, tag_id: the order of tag listings


@dataclass(frozen=True, slots=True)
class TagGroup:
    group_id: uuid.UUID
    kind: str
    name: str
    description: str
    tag_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Tag:
    tag_id: uuid.UUID
    group_id: uuid.UUID
    kind: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerTag:
    """A live assignment of a tag to a customer."""

    tag: Tag
    source: str
    expires_at: datetime | None
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class ComputedTagsResult:
    applied: list[uuid.UUID]
    removed: list[uuid.UUID]
    unchanged: int


@dataclass(frozen=True, slots=True)
class NameInput:
    """A cleaned name and the key that makes it unique within its parent."""

    name: str
    key: str


# ---- input rules -------------------------------------------------------------------------------


def clean_name(value: str, field: str, errors: ViolationCollector) -> NameInput:
    """Trimmed, NFC-normalised name; its key is the case-folded form (so "VIP" and "vip" clash)."""
    name = unicodedata.normalize("NFC", value.strip())
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        errors.add(field, f"must be 1 to {MAX_NAME_LENGTH} printable characters")
    return NameInput(name, name.casefold())


def clean_description(value: str, field: str, errors: ViolationCollector) -> str:
    """Trimmed free text for operators, bounded so that listings stay small."""
    description = value.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        errors.add(field, f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


def check_kind(value: str, field: str, errors: ViolationCollector) -> None:
    """The four kinds are fixed: segments and reports rely on them."""
    if value not in KINDS:
        errors.add(field, f"must be one of {', '.join(KINDS)}")


def optional_kind(value: str) -> str | None:
    """A list filter's kind: empty means every kind."""
    if not value:
        return None
    errors = ViolationCollector()
    check_kind(value, "kind", errors)
    errors.raise_if_any()
    return value


def path_id(value: str, what: str) -> uuid.UUID:
    """An id from a URL path: malformed, unknown and another tenant's all answer NotFound alike."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} not found") from None


def body_id(value: str, field: str, errors: ViolationCollector) -> uuid.UUID | None:
    """An id referred to in a request body; a malformed one is a field violation."""
    try:
        return uuid.UUID(value)
    except ValueError:
        errors.add(field, "must be a UUID")
        return None


def check_expiry(expires_at: datetime | None, now: datetime, errors: ViolationCollector) -> None:
    """An expiry must lie ahead (an expired assignment would be invisible at once) and within 10 years."""
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        errors.add("expires_at", "must carry a time zone offset")
    elif not now < expires_at <= now + MAX_EXPIRY:
        errors.add("expires_at", "must be in the future and at most 10 years ahead")


def check_source(source: str, errors: ViolationCollector) -> None:
    """A computing service names itself ("scoring"); "manual" is reserved for operators."""
    if not _SOURCE.fullmatch(source):
        errors.add("source", "must be 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a letter")
    elif source == MANUAL_SOURCE:
        errors.add("source", f"{MANUAL_SOURCE!r} is reserved for tags set by operators")


# ---- stores ------------------------------------------------------------------------------------


class TaxonomyStore(Protocol):
    async def create_group(
        self, tenant_id: uuid.UUID, kind: str, name: NameInput, description: str
    ) -> TagGroup: ...
    async def get_group(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> TagGroup | None: ...
    async def list_groups(
        self, tenant_id: uuid.UUID, kind: str | None, limit: int, after: GroupKey | None
    ) -> Page[TagGroup]: ...
    async def update_group(
        self, tenant_id: uuid.UUID, group_id: uuid.UUID, name: NameInput | None, description: str | None
    ) -> TagGroup: ...
    async def delete_group(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> None: ...
    async def create_tag(
        self, tenant_id: uuid.UUID, group_id: uuid.UUID, name: NameInput, description: str
    ) -> Tag: ...
    async def get_tag(self, tenant_id: uuid.UUID, tag_id: uuid.UUID) -> Tag | None: ...
    async def list_tags(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID | None,
        kind: str | None,
        limit: int,
        after: TagKey | None,
    ) -> Page[Tag]: ...
    async def update_tag(
        self,
        tenant_id: uuid.UUID,
        tag_id: uuid.UUID,
        group_id: uuid.UUID | None,
        name: NameInput | None,
        description: str | None,
    ) -> Tag: ...
    async def delete_tag(self, tenant_id: uuid.UUID, tag_id: uuid.UUID) -> int: ...


class CustomerTagStore(Protocol):
    async def tag(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID, expires_at: datetime | None
    ) -> tuple[CustomerTag, bool]: ...
    async def untag(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID) -> bool: ...
    async def list_tags(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        kind: str | None,
        limit: int,
        after: TagKey | None,
    ) -> Page[CustomerTag]: ...
    async def set_computed(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        source: str,
        tag_ids: Sequence[uuid.UUID],
        replace: bool,
        expires_at: datetime | None,
    ) -> ComputedTagsResult: ...


# ---- use cases ---------------------------------------------------------------------------------


class TagTaxonomy:
    """The operators' tag taxonomy: kind → group → tag."""

    def __init__(self, store: TaxonomyStore) -> None:
        self._store = store

    async def create_group(self, tenant_id: uuid.UUID, kind: str, name: str, description: str) -> TagGroup:
        """A new group under a kind; 409 when the kind already has a live group of that name."""
        errors = ViolationCollector()
        check_kind(kind, "kind", errors)
        clean = clean_name(name, "name", errors)
        text = clean_description(description, "description", errors)
        errors.raise_if_any()
        return await self._store.create_group(tenant_id, kind, clean, text)

    async def get_group(self, tenant_id: uuid.UUID, group_id: str) -> TagGroup:
        group = await self._store.get_group(tenant_id, path_id(group_id, "tag group"))
        if group is None:
            raise NotFound("tag group not found")
        return group

    async def list_groups(self, tenant_id: uuid.UUID, kind: str, limit: int, cursor: str) -> Page[TagGroup]:
        """Groups ordered by kind and name, one page at a time."""
        size, wanted = page_size(limit), optional_kind(kind)
        after = decode_cursor(cursor, (str, str, uuid.UUID))
        return await self._store.list_groups(tenant_id, wanted, size, after)

    async def update_group(
        self, tenant_id: uuid.UUID, group_id: str, name: str | None, description: str | None
    ) -> TagGroup:
        """Rename or re-describe a group; its kind is fixed (a group moves no tags between kinds)."""
        parsed = path_id(group_id, "tag group")
        errors = ViolationCollector()
        clean = clean_name(name, "name", errors) if name is not None else None
        text = clean_description(description, "description", errors) if description is not None else None
        errors.raise_if_any()
        return await self._store.update_group(tenant_id, parsed, clean, text)

    async def delete_group(self, tenant_id: uuid.UUID, group_id: str) -> None:
        """Delete an empty group; 409 while it still holds live tags."""
        await self._store.delete_group(tenant_id, path_id(group_id, "tag group"))

    async def create_tag(self, tenant_id: uuid.UUID, group_id: str, name: str, description: str) -> Tag:
        """A new tag in a group; an unknown group is a field violation of ``group_id``."""
        errors = ViolationCollector()
        parsed = body_id(group_id, "group_id", errors)
        clean = clean_name(name, "name", errors)
        text = clean_description(description, "description", errors)
        errors.raise_if_any()
        assert parsed is not None
        return await self._store.create_tag(tenant_id, parsed, clean, text)

    async def get_tag(self, tenant_id: uuid.UUID, tag_id: str) -> Tag:
        tag = await self._store.get_tag(tenant_id, path_id(tag_id, "tag"))
        if tag is None:
            raise NotFound("tag not found")
        return tag

    async def list_tags(
        self, tenant_id: uuid.UUID, group_id: str, kind: str, limit: int, cursor: str
    ) -> Page[Tag]:
        """Tags ordered by name, filtered by group and kind (an unknown group simply has no tags)."""
        errors = ViolationCollector()
        group = body_id(group_id, "group_id", errors) if group_id else None
        errors.raise_if_any()
        size, wanted = page_size(limit), optional_kind(kind)
        after = decode_cursor(cursor, (str, uuid.UUID))
        return await self._store.list_tags(tenant_id, group, wanted, size, after)

    async def update_tag(
        self,
        tenant_id: uuid.UUID,
        tag_id: str,
        group_id: str | None,
        name: str | None,
        description: str | None,
    ) -> Tag:
        """Rename, re-describe or move a tag to another group; assignments keep following it."""
        parsed = path_id(tag_id, "tag")
        errors = ViolationCollector()
        group = body_id(group_id, "group_id", errors) if group_id is not None else None
        clean = clean_name(name, "name", errors) if name is not None else None
        text = clean_description(description, "description", errors) if description is not None else None
        errors.raise_if_any()
        return await self._store.update_tag(tenant_id, parsed, group, clean, text)

    async def delete_tag(self, tenant_id: uuid.UUID, tag_id: str) -> int:
        """Soft-delete a tag and remove it from its customers; returns how many lost it."""
        return await self._store.delete_tag(tenant_id, path_id(tag_id, "tag"))


class CustomerTagging:
    """Tags on customers: by hand (operators) and computed (other services over gRPC)."""

    def __init__(self, store: CustomerTagStore) -> None:
        self._store = store

    async def tag(
        self, tenant_id: uuid.UUID, customer_id: str, tag_id: str, expires_at: datetime | None
    ) -> tuple[CustomerTag, bool]:
        """Tag by hand; idempotent: the same tag with the same expiry again changes and emits nothing."""
        customer, tag = path_id(customer_id, "customer"), path_id(tag_id, "tag")
        errors = ViolationCollector()
        check_expiry(expires_at, datetime.now(UTC), errors)
        errors.raise_if_any()
        return await self._store.tag(tenant_id, customer, tag, expires_at)

    async def untag(self, tenant_id: uuid.UUID, customer_id: str, tag_id: str) -> bool:
        """Remove a tag whatever its source; removing one the customer lacks is a no-op."""
        customer, tag = path_id(customer_id, "customer"), path_id(tag_id, "tag")
        return await self._store.untag(tenant_id, customer, tag)

    async def list_tags(
        self, tenant_id: uuid.UUID, customer_id: str, kind: str, limit: int, cursor: str
    ) -> Page[CustomerTag]:
        """The customer's live (unexpired) tags, ordered by tag name."""
        customer = path_id(customer_id, "customer")
        size, wanted = page_size(limit), optional_kind(kind)
        after = decode_cursor(cursor, (str, uuid.UUID))
        return await self._store.list_tags(tenant_id, customer, wanted, size, after)

    async def set_computed(
        self,
        tenant_id: uuid.UUID,
        customer_id: str,
        source: str,
        tag_ids: Sequence[str],
        replace: bool,
        expires_at: datetime | None,
    ) -> ComputedTagsResult:
        """Write the tags a service computed, recording it as their source.

        With ``replace`` the source's other tags on the customer go, so a service can assert its
        whole current set on every run; tags written by hand or by other sources are never removed.
        """
        customer = path_id(customer_id, "customer")
        errors = ViolationCollector()
        check_source(source, errors)
        check_expiry(expires_at, datetime.now(UTC), errors)
        if len(tag_ids) > MAX_COMPUTED_TAGS_PER_CALL:
            errors.add("tag_ids", f"must hold at most {MAX_COMPUTED_TAGS_PER_CALL} tags")
        parsed: list[uuid.UUID] = []
        seen: set[uuid.UUID] = set()
        for index, raw in enumerate(tag_ids[:MAX_COMPUTED_TAGS_PER_CALL]):
            tag = body_id(raw, f"tag_ids[{index}]", errors)
            if tag is not None and tag in seen:
                errors.add(f"tag_ids[{index}]", "appears more than once")
            elif tag is not None:
                seen.add(tag)
                parsed.append(tag)
        errors.raise_if_any()
        return await self._store.set_computed(tenant_id, customer, source, parsed, replace, expires_at)
