"""The services as one request's handler sees them: stubs whose calls carry the caller's tenant.

A handler takes ``profile: Profile`` (see gateway.dependencies) and writes
``await profile.orders.RecordOrder(request)``: the service name comes from the stub, the tenant and
the configured deadline are bound once, and failures map exactly as :meth:`ServiceClients.call`
maps them. Tenant-less (admin) calls bind ``tenant_id=None``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from gateway.clients import ServiceClients, service_of
from patron.common.v1 import tenancy_pb2_grpc
from patron.loyalty.v1 import coupons_pb2_grpc, loyalty_pb2_grpc, membership_pb2_grpc
from patron.loyalty.v1 import customer_360_pb2_grpc as loyalty_360_pb2_grpc
from patron.notify.v1 import campaigns_pb2_grpc, journeys_pb2_grpc, notify_pb2_grpc, webhooks_pb2_grpc
from patron.profile.v1 import (
    behaviour_pb2_grpc,
    merge_suggestions_pb2_grpc,
    orders_pb2_grpc,
    profile_pb2_grpc,
    tags_pb2_grpc,
)
from patron.profile.v1 import customer_360_pb2_grpc as profile_360_pb2_grpc
from patron.scoring.v1 import customer_360_pb2_grpc as scoring_360_pb2_grpc
from patron.scoring.v1 import models_pb2_grpc, scoring_pb2_grpc, segment_exports_pb2_grpc, segments_pb2_grpc

# The services a new tenant is provisioned in before the profile service issues its key.
PROVISIONED_SERVICES = ("scoring", "loyalty", "notify")


@dataclass(frozen=True, slots=True)
class BoundCall:
    """One RPC of a service, bound to a caller: awaiting it sends the request with the tenant."""

    clients: ServiceClients
    service: str
    method: Any
    tenant_id: str | None

    async def __call__(self, request: Any, *, deadline_seconds: float | None = None) -> Any:
        """Send ``request``; a longer ``deadline_seconds`` is for calls known to take long (batches)."""
        return await self.clients.call(
            self.service, self.method, request, tenant_id=self.tenant_id, deadline_seconds=deadline_seconds
        )

    def stream(self, request: Any, *, deadline_seconds: float | None = None) -> AsyncGenerator[Any, None]:
        """The messages of a server-streaming RPC; ``deadline_seconds`` bounds the whole stream."""
        return self.clients.stream(
            self.service, self.method, request, tenant_id=self.tenant_id, deadline_seconds=deadline_seconds
        )

    async def retried(self, request: Any, *, attempts: int = 3) -> Any:
        """Send ``request``, again with backoff while the service is unavailable (idempotent RPCs only)."""
        return await self.clients.call_idempotent(
            self.service, self.method, request, tenant_id=self.tenant_id, attempts=attempts
        )


class BoundStub:
    """A generated stub whose RPCs are :class:`BoundCall` s: ``await bound.GetOrder(request)``."""

    __slots__ = ("_clients", "_service", "_stub", "_tenant_id")

    def __init__(
        self,
        clients: ServiceClients,
        stub_class: type[Any],
        tenant_id: str | None,
        service: str | None = None,
    ) -> None:
        self._clients = clients
        self._service = service or service_of(stub_class)
        self._stub = clients.stub(stub_class, self._service)
        self._tenant_id = tenant_id

    def __getattr__(self, rpc: str) -> BoundCall:
        return BoundCall(self._clients, self._service, getattr(self._stub, rpc), self._tenant_id)


class ProfileClient:
    """The profile service's stubs, bound to one caller."""

    def __init__(self, clients: ServiceClients, tenant_id: str | None) -> None:
        self.customers = BoundStub(clients, profile_pb2_grpc.CustomerServiceStub, tenant_id)
        self.behaviour = BoundStub(clients, behaviour_pb2_grpc.BehaviourServiceStub, tenant_id)
        self.orders = BoundStub(clients, orders_pb2_grpc.OrderServiceStub, tenant_id)
        self.tags = BoundStub(clients, tags_pb2_grpc.TagServiceStub, tenant_id)
        self.consents = BoundStub(clients, tags_pb2_grpc.ConsentServiceStub, tenant_id)
        self.identity_resolution = BoundStub(
            clients, merge_suggestions_pb2_grpc.IdentityResolutionServiceStub, tenant_id
        )
        self.merge_suggestions = BoundStub(
            clients, merge_suggestions_pb2_grpc.MergeSuggestionServiceStub, tenant_id
        )
        self.customer_360 = BoundStub(clients, profile_360_pb2_grpc.Customer360ServiceStub, tenant_id)


class ScoringClient:
    """The scoring service's stubs, bound to one caller."""

    def __init__(self, clients: ServiceClients, tenant_id: str | None) -> None:
        self.scoring = BoundStub(clients, scoring_pb2_grpc.ScoringServiceStub, tenant_id)
        self.models = BoundStub(clients, models_pb2_grpc.ModelServiceStub, tenant_id)
        self.segments = BoundStub(clients, segments_pb2_grpc.SegmentServiceStub, tenant_id)
        self.exports = BoundStub(clients, segment_exports_pb2_grpc.SegmentExportServiceStub, tenant_id)
        self.customer_360 = BoundStub(clients, scoring_360_pb2_grpc.Customer360ServiceStub, tenant_id)


class LoyaltyClient:
    """The loyalty service's stubs, bound to one caller."""

    def __init__(self, clients: ServiceClients, tenant_id: str | None) -> None:
        self.program = BoundStub(clients, loyalty_pb2_grpc.ProgramServiceStub, tenant_id)
        self.points = BoundStub(clients, loyalty_pb2_grpc.PointsServiceStub, tenant_id)
        self.reports = BoundStub(clients, loyalty_pb2_grpc.ReportsServiceStub, tenant_id)
        self.membership = BoundStub(clients, membership_pb2_grpc.MembershipServiceStub, tenant_id)
        self.coupons = BoundStub(clients, coupons_pb2_grpc.CouponServiceStub, tenant_id)
        self.customer_360 = BoundStub(clients, loyalty_360_pb2_grpc.Customer360ServiceStub, tenant_id)


class NotifyClient:
    """The notify service's stubs, bound to one caller."""

    def __init__(self, clients: ServiceClients, tenant_id: str | None) -> None:
        self.setup = BoundStub(clients, notify_pb2_grpc.NotifyServiceStub, tenant_id)
        self.links = BoundStub(clients, notify_pb2_grpc.LinkServiceStub, tenant_id)
        self.webhooks = BoundStub(clients, webhooks_pb2_grpc.WebhookServiceStub, tenant_id)
        self.journeys = BoundStub(clients, journeys_pb2_grpc.JourneyServiceStub, tenant_id)
        self.campaigns = BoundStub(clients, campaigns_pb2_grpc.CampaignServiceStub, tenant_id)


class AdminClient:
    """What the tenant-less administration calls: tenants in profile, provisioning in the others."""

    def __init__(self, clients: ServiceClients) -> None:
        self.tenants = BoundStub(clients, profile_pb2_grpc.TenantServiceStub, None)
        self.provisioning = {
            name: BoundStub(clients, tenancy_pb2_grpc.TenantProvisioningStub, None, service=name)
            for name in PROVISIONED_SERVICES
        }
