"""Tag and consent servicers: convert, delegate to the domain, convert back. No rules live here."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import tags_pb2, tags_pb2_grpc
from services.profile.domain.consent import ConsentChange, ConsentRegistry, ConsentState
from services.profile.domain.tags import CustomerTag, CustomerTagging, Tag, TagGroup, TagTaxonomy
from services.profile.store.consent import SqlConsentStore
from services.profile.store.customer_tags import SqlCustomerTagStore
from services.profile.store.tags import SqlTaxonomyStore
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import optional_text, optional_time, set_optional, set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

TAG_SERVICE = "patron.profile.v1.TagService"
CONSENT_SERVICE = "patron.profile.v1.ConsentService"


def group_to_proto(group: TagGroup) -> tags_pb2.TagGroup:
    return tags_pb2.TagGroup(
        group_id=str(group.group_id),
        kind=group.kind,
        name=group.name,
        description=group.description,
        tag_count=group.tag_count,
        created_at=to_timestamp(group.created_at),
        updated_at=to_timestamp(group.updated_at),
    )


def tag_to_proto(tag: Tag) -> tags_pb2.Tag:
    return tags_pb2.Tag(
        tag_id=str(tag.tag_id),
        group_id=str(tag.group_id),
        kind=tag.kind,
        name=tag.name,
        description=tag.description,
        created_at=to_timestamp(tag.created_at),
        updated_at=to_timestamp(tag.updated_at),
    )


def customer_tag_to_proto(assignment: CustomerTag) -> tags_pb2.CustomerTag:
    message = tags_pb2.CustomerTag(
        tag=tag_to_proto(assignment.tag),
        source=assignment.source,
        applied_at=to_timestamp(assignment.applied_at),
    )
    set_time(message, "expires_at", assignment.expires_at)
    return message


def consent_to_proto(state: ConsentState) -> tags_pb2.ConsentState:
    message = tags_pb2.ConsentState(channel=state.channel, purpose=state.purpose, source=state.source or "")
    set_optional(message, "granted", state.granted)
    set_time(message, "changed_at", state.changed_at)
    return message


def change_to_proto(change: ConsentChange) -> tags_pb2.ConsentChange:
    return tags_pb2.ConsentChange(
        channel=change.channel,
        purpose=change.purpose,
        granted=change.granted,
        source=change.source,
        changed_at=to_timestamp(change.changed_at),
    )


class TagServicer(tags_pb2_grpc.TagServiceServicer):
    def __init__(self, taxonomy: TagTaxonomy, tagging: CustomerTagging) -> None:
        self._taxonomy = taxonomy
        self._tagging = tagging

    async def CreateTagGroup(
        self, request: tags_pb2.CreateTagGroupRequest, context: aio.ServicerContext
    ) -> tags_pb2.TagGroup:
        group = await self._taxonomy.create_group(
            current_tenant(), request.kind, request.name, request.description
        )
        return group_to_proto(group)

    async def GetTagGroup(
        self, request: tags_pb2.GetTagGroupRequest, context: aio.ServicerContext
    ) -> tags_pb2.TagGroup:
        return group_to_proto(await self._taxonomy.get_group(current_tenant(), request.group_id))

    async def ListTagGroups(
        self, request: tags_pb2.ListTagGroupsRequest, context: aio.ServicerContext
    ) -> tags_pb2.ListTagGroupsResponse:
        page = await self._taxonomy.list_groups(current_tenant(), request.kind, request.limit, request.cursor)
        return tags_pb2.ListTagGroupsResponse(
            groups=[group_to_proto(g) for g in page.items], next_cursor=page.next_cursor or ""
        )

    async def UpdateTagGroup(
        self, request: tags_pb2.UpdateTagGroupRequest, context: aio.ServicerContext
    ) -> tags_pb2.TagGroup:
        group = await self._taxonomy.update_group(
            current_tenant(),
            request.group_id,
            optional_text(request, "name"),
            optional_text(request, "description"),
        )
        return group_to_proto(group)

    async def DeleteTagGroup(
        self, request: tags_pb2.DeleteTagGroupRequest, context: aio.ServicerContext
    ) -> tags_pb2.DeleteTagGroupResponse:
        await self._taxonomy.delete_group(current_tenant(), request.group_id)
        return tags_pb2.DeleteTagGroupResponse()

    async def CreateTag(
        self, request: tags_pb2.CreateTagRequest, context: aio.ServicerContext
    ) -> tags_pb2.Tag:
        tag = await self._taxonomy.create_tag(
            current_tenant(), request.group_id, request.name, request.description
        )
        return tag_to_proto(tag)

    async def GetTag(self, request: tags_pb2.GetTagRequest, context: aio.ServicerContext) -> tags_pb2.Tag:
        return tag_to_proto(await self._taxonomy.get_tag(current_tenant(), request.tag_id))

    async def ListTags(
        self, request: tags_pb2.ListTagsRequest, context: aio.ServicerContext
    ) -> tags_pb2.ListTagsResponse:
        page = await self._taxonomy.list_tags(
            current_tenant(), request.group_id, request.kind, request.limit, request.cursor
        )
        return tags_pb2.ListTagsResponse(
            tags=[tag_to_proto(t) for t in page.items], next_cursor=page.next_cursor or ""
        )

    async def UpdateTag(
        self, request: tags_pb2.UpdateTagRequest, context: aio.ServicerContext
    ) -> tags_pb2.Tag:
        tag = await self._taxonomy.update_tag(
            current_tenant(),
            request.tag_id,
            optional_text(request, "group_id"),
            optional_text(request, "name"),
            optional_text(request, "description"),
        )
        return tag_to_proto(tag)

    async def DeleteTag(
        self, request: tags_pb2.DeleteTagRequest, context: aio.ServicerContext
    ) -> tags_pb2.DeleteTagResponse:
        untagged = await self._taxonomy.delete_tag(current_tenant(), request.tag_id)
        return tags_pb2.DeleteTagResponse(customers_untagged=untagged)

    async def TagCustomer(
        self, request: tags_pb2.TagCustomerRequest, context: aio.ServicerContext
    ) -> tags_pb2.TagCustomerResponse:
        assignment, changed = await self._tagging.tag(
            current_tenant(), request.customer_id, request.tag_id, optional_time(request, "expires_at")
        )
        return tags_pb2.TagCustomerResponse(customer_tag=customer_tag_to_proto(assignment), changed=changed)

    async def UntagCustomer(
        self, request: tags_pb2.UntagCustomerRequest, context: aio.ServicerContext
    ) -> tags_pb2.UntagCustomerResponse:
        changed = await self._tagging.untag(current_tenant(), request.customer_id, request.tag_id)
        return tags_pb2.UntagCustomerResponse(changed=changed)

    async def ListCustomerTags(
        self, request: tags_pb2.ListCustomerTagsRequest, context: aio.ServicerContext
    ) -> tags_pb2.ListCustomerTagsResponse:
        page = await self._tagging.list_tags(
            current_tenant(), request.customer_id, request.kind, request.limit, request.cursor
        )
        return tags_pb2.ListCustomerTagsResponse(
            tags=[customer_tag_to_proto(t) for t in page.items], next_cursor=page.next_cursor or ""
        )

    async def SetComputedTags(
        self, request: tags_pb2.SetComputedTagsRequest, context: aio.ServicerContext
    ) -> tags_pb2.SetComputedTagsResponse:
        result = await self._tagging.set_computed(
            current_tenant(),
            request.customer_id,
            request.source,
            list(request.tag_ids),
            request.replace,
            optional_time(request, "expires_at"),
        )
        return tags_pb2.SetComputedTagsResponse(
            applied_tag_ids=[str(t) for t in result.applied],
            removed_tag_ids=[str(t) for t in result.removed],
            unchanged=result.unchanged,
        )


class ConsentServicer(tags_pb2_grpc.ConsentServiceServicer):
    def __init__(self, registry: ConsentRegistry) -> None:
        self._registry = registry

    async def SetConsent(
        self, request: tags_pb2.SetConsentRequest, context: aio.ServicerContext
    ) -> tags_pb2.SetConsentResponse:
        state, changed = await self._registry.set(
            current_tenant(),
            request.customer_id,
            request.channel,
            request.purpose,
            request.granted,
            request.source,
        )
        return tags_pb2.SetConsentResponse(consent=consent_to_proto(state), changed=changed)

    async def ListConsents(
        self, request: tags_pb2.ListConsentsRequest, context: aio.ServicerContext
    ) -> tags_pb2.ListConsentsResponse:
        states = await self._registry.current(current_tenant(), request.customer_id)
        return tags_pb2.ListConsentsResponse(consents=[consent_to_proto(s) for s in states])

    async def ConsentHistory(
        self, request: tags_pb2.ConsentHistoryRequest, context: aio.ServicerContext
    ) -> tags_pb2.ConsentHistoryResponse:
        page = await self._registry.history(
            current_tenant(),
            request.customer_id,
            request.channel,
            request.purpose,
            request.limit,
            request.cursor,
        )
        return tags_pb2.ConsentHistoryResponse(
            changes=[change_to_proto(c) for c in page.items], next_cursor=page.next_cursor or ""
        )


def tags_and_consent_registrations(database: Database, outbox: Outbox) -> list[Registration]:
    """The TagService and ConsentService, assembled on the profile database and outbox."""
    taxonomy = TagTaxonomy(SqlTaxonomyStore(database, outbox))
    tagging = CustomerTagging(SqlCustomerTagStore(database, outbox))
    consent = ConsentRegistry(SqlConsentStore(database, outbox))
    return [
        Registration(
            tags_pb2_grpc.add_TagServiceServicer_to_server, TagServicer(taxonomy, tagging), TAG_SERVICE
        ),
        Registration(
            tags_pb2_grpc.add_ConsentServiceServicer_to_server, ConsentServicer(consent), CONSENT_SERVICE
        ),
    ]
