"""Scoring's client of profile's TagService: the taxonomy entries it needs and the computed sets.

Groups and tags are created on first use and found again by name when they already exist (created
by an earlier run whose id was not kept, or by an operator), so creating them is idempotent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

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

    async def _group(self, tenant_id: uuid.UUID, kind: str, name: str) -> str:
        metadata = self._metadata(tenant_id)
        try:
            group = await self._stub.CreateTagGroup(
                tags_pb2.CreateTagGroupRequest(kind=kind, name=name, description="computed by scoring"),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return str(group.group_id)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        cursor = ""
        while True:
            page = await self._stub.ListTagGroups(
                tags_pb2.ListTagGroupsRequest(kind=kind, limit=PAGE, cursor=cursor),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            for found in page.groups:
                if found.name.casefold() == name.casefold():
                    return str(found.group_id)
            if not page.next_cursor:
                raise LookupError(f"tag group {kind}/{name} exists but was not listed")
            cursor = page.next_cursor

    async def _tag(self, tenant_id: uuid.UUID, group_id: str, name: str) -> str:
        metadata = self._metadata(tenant_id)
        try:
            tag = await self._stub.CreateTag(
                tags_pb2.CreateTagRequest(group_id=group_id, name=name, description="computed by scoring"),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            return str(tag.tag_id)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        cursor = ""
        while True:
            page = await self._stub.ListTags(
                tags_pb2.ListTagsRequest(group_id=group_id, limit=PAGE, cursor=cursor),
                timeout=DEADLINE_SECONDS,
                metadata=metadata,
            )
            for found in page.tags:
                if found.name.casefold() == name.casefold():
                    return str(found.tag_id)
            if not page.next_cursor:
                raise LookupError(f"tag {name} exists in group {group_id} but was not listed")
            cursor = page.next_cursor

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
