"""Scoring's client of profile's TagService: the taxonomy entries it needs and the computed sets.

Groups and tags are created on first use and found again by name when they already exist (created
by an earlier run whose id was not kept, or by an operator), so creating them is idempotent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from patron.profile.v1 import tags_pb2, tags_pb2_grpc
from services.runtime.tenancy import TENANT_METADATA_KEY

SOURCE = "scoring"
DEADLINE_SECONDS = 10.0
PAGE = 500
DESCRIPTION = "computed by scoring"


@dataclass(frozen=True, slots=True)
class _Level:
    """One level of profile's taxonomy: the RPCs that create and list its entries, and their fields."""

    what: str
    create: str
    create_request: Callable[..., Message]
    list: str
    list_request: Callable[..., Message]
    id_field: str
    entries: str


GROUP = _Level(
    "tag group",
    "CreateTagGroup",
    tags_pb2.CreateTagGroupRequest,
    "ListTagGroups",
    tags_pb2.ListTagGroupsRequest,
    "group_id",
    "groups",
)
TAG = _Level(
    "tag", "CreateTag", tags_pb2.CreateTagRequest, "ListTags", tags_pb2.ListTagsRequest, "tag_id", "tags"
)


class ProfileTags:
    """Calls profile for one tenant at a time; ``concurrency`` bounds the calls in flight."""

    def __init__(self, channel: grpc.aio.Channel, concurrency: int = 8) -> None:
        self._channel = channel
        self._stub = tags_pb2_grpc.TagServiceStub(channel)
        self._limit = asyncio.Semaphore(concurrency)

    @staticmethod
    def _metadata(tenant_id: uuid.UUID) -> tuple[tuple[str, str]]:
        return ((TENANT_METADATA_KEY, str(tenant_id)),)

    async def _create_or_find(
        self, tenant_id: uuid.UUID, level: _Level, parent: Mapping[str, str], name: str
    ) -> str:
        """The id of the entry ``name`` at ``level`` under ``parent`` (a kind or a group id): the one
        created now, or on ALREADY_EXISTS the one of that name (case-insensitively) in the listing."""
        metadata = self._metadata(tenant_id)
        create = getattr(self._stub, level.create)
        try:
            created = await create(
                level.create_request(**parent, name=name, description=DESCRIPTION),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return str(getattr(created, level.id_field))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        list_page = getattr(self._stub, level.list)
        cursor = ""
        while True:
            page = await list_page(
                level.list_request(**parent, limit=PAGE, cursor=cursor),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            for entry in getattr(page, level.entries):
                if entry.name.casefold() == name.casefold():
                    return str(getattr(entry, level.id_field))
            cursor = page.next_cursor
            if not cursor:
                raise LookupError(f"{level.what} {name!r} exists but was not listed")

    async def ensure(self, tenant_id: uuid.UUID, keys: Sequence[tuple[str, str, str]]) -> list[str]:
        """Profile's tag ids for (kind, group, tag) triples, creating what is missing."""
        groups: dict[tuple[str, str], str] = {}
        ids = []
        for kind, group, tag in keys:
            if (kind, group) not in groups:
                groups[(kind, group)] = await self._create_or_find(tenant_id, GROUP, {"kind": kind}, group)
            ids.append(await self._create_or_find(tenant_id, TAG, {"group_id": groups[(kind, group)]}, tag))
        return ids

    async def set_computed(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_ids: Sequence[str]
    ) -> bool:
        """Replace scoring's tags on the customer; False when profile no longer knows the customer."""
        async with self._limit:
            try:
                await self._stub.SetComputedTags(
                    tags_pb2.SetComputedTagsRequest(
                        customer_id=str(customer_id), source=SOURCE, tag_ids=list(tag_ids), replace=True
                    ),
                    timeout=DEADLINE_SECONDS,
                    metadata=self._metadata(tenant_id),
                )
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    return False
                raise
        return True

    async def close(self) -> None:
        """Close the channel to profile (when the service stops)."""
        await self._channel.close()
