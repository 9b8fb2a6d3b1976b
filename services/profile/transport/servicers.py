"""Profile servicers: convert, delegate to the domain, convert back. No rules live here."""

from __future__ import annotations

import json

from grpc import aio

from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.profile.domain.directory import CustomerDirectory, TenantRegistry
from services.profile.domain.identify_many import (
    IdentifyBatch,
    IdentifyCall,
    IdentifyOutcome,
    Unsettled,
    check_batch_size,
)
from services.profile.domain.privacy import CustomerPrivacy
from services.profile.domain.timeline import Timeline
from services.profile.transport import convert
from services.runtime.errors import InvalidArgument
from services.runtime.privacy import export_value
from services.runtime.proto_convert import to_timestamp
from services.runtime.tenancy import current_tenant, validate_tenant

TENANT_SERVICE = "patron.profile.v1.TenantService"
CUSTOMER_SERVICE = "patron.profile.v1.CustomerService"


class TenantServicer(profile_pb2_grpc.TenantServiceServicer):
    def __init__(self, registry: TenantRegistry) -> None:
        self._registry = registry

    async def CreateTenant(
        self, request: profile_pb2.CreateTenantRequest, context: aio.ServicerContext
    ) -> profile_pb2.CreateTenantResponse:
        spec = request.tenant
        tenant = validate_tenant(spec.tenant_id, spec.name, spec.timezone, spec.currency, spec.default_region)
        created_at = await self._registry.create(tenant, request.api_key_sha256, request.api_key_prefix)
        return profile_pb2.CreateTenantResponse(
            tenant=convert.tenant_to_proto(tenant), created_at=to_timestamp(created_at)
        )

    async def ResolveApiKey(
        self, request: profile_pb2.ResolveApiKeyRequest, context: aio.ServicerContext
    ) -> profile_pb2.ResolveApiKeyResponse:
        tenant, key = await self._registry.resolve_key(request.api_key_sha256)
        return profile_pb2.ResolveApiKeyResponse(
            tenant=convert.tenant_to_proto(tenant), scopes=key.scopes, key_id=str(key.key_id)
        )


class CustomerServicer(profile_pb2_grpc.CustomerServiceServicer):
    def __init__(
        self,
        directory: CustomerDirectory,
        privacy: CustomerPrivacy,
        timeline: Timeline,
        batch: IdentifyBatch,
    ) -> None:
        self._directory = directory
        self._privacy = privacy
        self._timeline = timeline
        self._batch = batch

    async def Identify(
        self, request: profile_pb2.IdentifyRequest, context: aio.ServicerContext
    ) -> profile_pb2.IdentifyResponse:
        result = await self._directory.identify(
            current_tenant(),
            convert.identities_from_proto(request.identities),
            convert.attributes_from_proto(request.attributes),
        )
        return convert.identify_result_to_proto(result)

    async def IdentifyMany(
        self, request: profile_pb2.IdentifyManyRequest, context: aio.ServicerContext
    ) -> profile_pb2.IdentifyManyResponse:
        check_batch_size(len(request.calls))  # before converting any of them
        outcomes: dict[int, IdentifyOutcome] = {}
        calls: list[IdentifyCall] = []
        positions: list[int] = []
        for index, call in enumerate(request.calls):
            try:
                attributes = convert.attributes_from_proto(call.attributes)
            except InvalidArgument as fault:  # unreadable: its sender sends it alone for the error
                outcomes[index] = Unsettled(f"invalid argument: {fault}")
                continue
            calls.append(IdentifyCall(convert.identities_from_proto(call.identities), attributes))
            positions.append(index)
        if calls:
            answered = await self._batch.identify_many(current_tenant(), calls)
            outcomes.update(zip(positions, answered, strict=True))
        return profile_pb2.IdentifyManyResponse(
            outcomes=[convert.identify_outcome_to_proto(outcomes[i]) for i in range(len(request.calls))]
        )

    async def GetCustomer(
        self, request: profile_pb2.GetCustomerRequest, context: aio.ServicerContext
    ) -> profile_pb2.Customer:
        customer = await self._directory.get(current_tenant(), request.customer_id)
        return convert.customer_to_proto(customer)

    async def UpdateCustomer(
        self, request: profile_pb2.UpdateCustomerRequest, context: aio.ServicerContext
    ) -> profile_pb2.Customer:
        customer = await self._directory.update(
            current_tenant(),
            request.customer_id,
            convert.attributes_from_proto(request.attributes),
            list(request.clear_attributes),
        )
        return convert.customer_to_proto(customer)

    async def MergeCustomers(
        self, request: profile_pb2.MergeCustomersRequest, context: aio.ServicerContext
    ) -> profile_pb2.MergeCustomersResponse:
        merged = await self._directory.merge(current_tenant(), request.customer_id, request.other_customer_id)
        return profile_pb2.MergeCustomersResponse(
            customer_id=request.customer_id, merged_customer_ids=[str(m) for m in merged]
        )

    async def EraseCustomer(
        self, request: profile_pb2.EraseCustomerRequest, context: aio.ServicerContext
    ) -> profile_pb2.EraseCustomerResponse:
        customer_id, erased_at = await self._privacy.erase(current_tenant(), request.customer_id)
        return profile_pb2.EraseCustomerResponse(
            customer_id=str(customer_id), erased_at=to_timestamp(erased_at)
        )

    async def ExportCustomer(
        self, request: profile_pb2.ExportCustomerRequest, context: aio.ServicerContext
    ) -> profile_pb2.ExportCustomerResponse:
        exported = await self._privacy.export(current_tenant(), request.customer_id)
        return profile_pb2.ExportCustomerResponse(
            export_json=json.dumps(exported, default=export_value, ensure_ascii=False)
        )

    async def ListCustomers(
        self, request: profile_pb2.ListCustomersRequest, context: aio.ServicerContext
    ) -> profile_pb2.ListCustomersResponse:
        items, next_cursor = await self._directory.list_page(
            current_tenant(),
            limit=request.limit,
            cursor=request.cursor,
            identity_type=request.identity_type,
            identity_value=request.identity_value,
            attributes=dict(request.attributes),
            tag_id=request.tag_id,
        )
        return profile_pb2.ListCustomersResponse(
            items=[convert.customer_to_proto(c) for c in items], next_cursor=next_cursor
        )

    async def GetTimeline(
        self, request: profile_pb2.GetTimelineRequest, context: aio.ServicerContext
    ) -> profile_pb2.GetTimelineResponse:
        page = await self._timeline.page(current_tenant(), request.customer_id, request.limit, request.cursor)
        return profile_pb2.GetTimelineResponse(
            items=convert.timeline_to_proto(page.items), next_cursor=page.next_cursor or ""
        )
