"""Scoring's client of profile's TagService: the taxonomy entries it needs and the computed sets.

Groups and tags are created on first use and found again by name when they already exist (created
by an earlier run whose id was not kept, or by an operator), so creating them is idempotent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence

import grpc

from patron.profile.v1 import tags_pb2, tags_pb2_grpc
from services.runtime.tenancy import TENANT_METADATA_KEY

SOURCE = "scoring"
DEADLINE_SECONDS = 10.0
PAGE = 500


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
        self,
        created: Awaitable[str],
        listed: Callable[[str], Awaitable[tuple[list[tuple[str, str]], str]]],
        name: str,
        what: str,
    ) -> str:
        """The id ``created`` answers, or on ALREADY_EXISTS the id of the entry named ``name``
        (case-insensitively) in the pages ``listed`` answers as ((name, id) pairs, next cursor)."""
        try:
            return await created
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        cursor = ""
        while True:
            entries, cursor = await listed(cursor)
            for found_name, found_id in entries:
                if found_name.casefold() == name.casefold():
                    return found_id
            if not cursor:
                raise LookupError(f"{what} exists but was not listed")

    async def _group(self, tenant_id: uuid.UUID, kind: str, name: str) -> str:
        metadata = self._metadata(tenant_id)

        async def created() -> str:
            group = await self._stub.CreateTagGroup(
                tags_pb2.CreateTagGroupRequest(kind=kind, name=name, description="computed by scoring"),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return str(group.group_id)

        async def listed(cursor: str) -> tuple[list[tuple[str, str]], str]:
            page = await self._stub.ListTagGroups(
                tags_pb2.ListTagGroupsRequest(kind=kind, limit=PAGE, cursor=cursor),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return [(g.name, str(g.group_id)) for g in page.groups], page.next_cursor

        return await self._create_or_find(created(), listed, name, f"tag group {kind}/{name}")

    async def _tag(self, tenant_id: uuid.UUID, group_id: str, name: str) -> str:
        metadata = self._metadata(tenant_id)

        async def created() -> str:
            tag = await self._stub.CreateTag(
                tags_pb2.CreateTagRequest(group_id=group_id, name=name, description="computed by scoring"),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return str(tag.tag_id)

        async def listed(cursor: str) -> tuple[list[tuple[str, str]], str]:
            page = await self._stub.ListTags(
                tags_pb2.ListTagsRequest(group_id=group_id, limit=PAGE, cursor=cursor),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return [(t.name, str(t.tag_id)) for t in page.tags], page.next_cursor

        return await self._create_or_find(created(), listed, name, f"tag {name} in group {group_id}")

    async def ensure(self, tenant_id: uuid.UUID, keys: Sequence[tuple[str, str, str]]) -> list[str]:
        """Profile's tag ids for (kind, group, tag) triples, creating what is missing."""
        groups: dict[tuple[str, str], str] = {}
        ids = []
        for kind, group, tag in keys:
            if (kind, group) not in groups:
                groups[(kind, group)] = await self._group(tenant_id, kind, group)
            ids.append(await self._tag(tenant_id, groups[(kind, group)], tag))
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
