"""The services over gRPC, through the generated stubs: health, reflection, tenant and deadline rules."""

import asyncio
import uuid

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from patron.common.v1 import tenancy_pb2, tenancy_pb2_grpc
from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.runtime.grpc_errors import parse_status_details
from services.runtime.server import ServiceServer
from services.runtime.service_main import build_server
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from tests.support import builder_for, service_settings, start_service


def channel(server: ServiceServer) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}")


def tenant_spec(**overrides: str) -> tenancy_pb2.TenantSpec:
    values = {
        "tenant_id": str(uuid.uuid4()),
        "name": "gRPC shop",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
        "default_region": "CN",
    }
    values.update(overrides)
    return tenancy_pb2.TenantSpec(**values)


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_every_service_reports_serving_and_reflects(
    services: dict[str, ServiceServer], name: str
) -> None:
    async with channel(services[name]) as ch:
        health = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stream = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=2
        )
        listed = [s.name async for r in stream for s in r.list_services_response.service]
    assert "grpc.health.v1.Health" in listed
    expected = (
        "patron.profile.v1.CustomerService" if name == "profile" else "patron.common.v1.TenantProvisioning"
    )
    assert expected in listed


async def test_a_call_without_tenant_is_refused(services: dict[str, ServiceServer]) -> None:
    async with channel(services["profile"]) as ch:
        stub = profile_pb2_grpc.CustomerServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCustomer(profile_pb2.GetCustomerRequest(customer_id=str(uuid.uuid4())), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_call_without_deadline_is_refused(services: dict[str, ServiceServer]) -> None:
    async with channel(services["profile"]) as ch:
        stub = profile_pb2_grpc.CustomerServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCustomer(
                profile_pb2.GetCustomerRequest(customer_id=str(uuid.uuid4())),
                metadata=(("x-patron-tenant", str(uuid.uuid4())),),
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, _, violations = parse_status_details(caught.value.trailing_metadata())
    assert violations[0].field == "grpc-timeout"


async def test_provisioning_is_idempotent_and_validated(services: dict[str, ServiceServer]) -> None:
    spec = tenant_spec()
    async with channel(services["loyalty"]) as ch:
        stub = tenancy_pb2_grpc.TenantProvisioningStub(ch)
        first = await stub.ProvisionTenant(tenancy_pb2.ProvisionTenantRequest(tenant=spec), timeout=2)
        again = await stub.ProvisionTenant(tenancy_pb2.ProvisionTenantRequest(tenant=spec), timeout=2)
        assert (first.created, again.created) == (True, False)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ProvisionTenant(
                tenancy_pb2.ProvisionTenantRequest(
                    tenant=tenant_spec(timezone="Mars/Olympus", currency="XXQ", default_region="ZZ")
                ),
                timeout=2,
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, _, violations = parse_status_details(caught.value.trailing_metadata())
    assert {v.field for v in violations} == {"timezone", "currency", "default_region"}


async def test_identify_reports_bad_identities_with_field_paths(services: dict[str, ServiceServer]) -> None:
    spec = tenant_spec()
    async with channel(services["profile"]) as ch:
        await profile_pb2_grpc.TenantServiceStub(ch).CreateTenant(
            profile_pb2.CreateTenantRequest(tenant=spec, api_key_sha256="ab" * 32, api_key_prefix="ptk_test"),
            timeout=2,
        )
        stub = profile_pb2_grpc.CustomerServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Identify(
                profile_pb2.IdentifyRequest(identities=[profile_pb2.Identity(type="phone", value="999")]),
                metadata=(("x-patron-tenant", spec.tenant_id),),
                timeout=2,
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, _, violations = parse_status_details(caught.value.trailing_metadata())
    assert reason == "INVALID_ARGUMENT"
    assert [v.field for v in violations] == ["identities[0].value"]


async def test_graceful_stop_lets_calls_in_flight_finish(database_urls: dict[str, str]) -> None:
    """SIGTERM path: new calls are refused at once, the call in flight completes within the grace."""
    server = await start_service("scoring", database_urls["scoring"])
    blocker = await asyncpg.connect(database_urls["scoring"])
    try:
        blocker_tx = blocker.transaction()
        await blocker_tx.start()
        await blocker.execute("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
        async with channel(server) as ch:
            stub = tenancy_pb2_grpc.TenantProvisioningStub(ch)
            in_flight = asyncio.ensure_future(
                stub.ProvisionTenant(tenancy_pb2.ProvisionTenantRequest(tenant=tenant_spec()), timeout=10)
            )
            await asyncio.sleep(0.3)
            assert not in_flight.done()
            stopping = asyncio.create_task(server.stop(grace=5))
            await asyncio.sleep(0.3)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ProvisionTenant(
                    tenancy_pb2.ProvisionTenantRequest(tenant=tenant_spec()), timeout=2
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            await blocker_tx.rollback()
            response = await in_flight
            assert response.created is True
            await stopping
    finally:
        await blocker.close()


async def test_without_its_database_a_service_is_alive_but_not_serving() -> None:
    """Readiness follows the database; liveness does not (so an outage never restarts pods)."""
    from services.runtime.service_main import build_server
    from tests.support import TEST_RUNTIME, builder_for, free_port, service_settings

    settings = service_settings("notify", f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    server = build_server("notify", builder_for("notify"), settings, TEST_RUNTIME)  # type: ignore[arg-type]
    await server.start()
    try:
        await asyncio.sleep(0.5)
        async with channel(server) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            overall = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            alive = await stub.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=2)
        assert overall.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert alive.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(grace=1)


async def test_a_production_server_does_not_list_its_methods(database_urls: dict[str, str]) -> None:
    """Reflection would show anyone who reaches the port every method; production turns it off."""
    settings = service_settings("loyalty", database_urls["loyalty"])
    production = RuntimeSettings(env="production", log_format="text", grpc_tls_disabled=True)
    server = build_server("loyalty", builder_for("loyalty"), settings, production)  # type: ignore[arg-type]
    await server.start()
    try:
        async with channel(server) as ch:
            stream = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=2
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                _ = [r async for r in stream]
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(grace=0.5)
