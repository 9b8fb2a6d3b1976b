"""A service that is down answers 503, a slow one 504 — never a hang, never a 500."""

import asyncio

import asyncpg

from services.runtime.server import ServiceServer
from tests.conftest import ADMIN_TOKEN, create_tenant, gateway_client, gateway_settings
from tests.support import free_port, start_service


def addresses(servers: dict[str, ServiceServer]) -> dict[str, str]:
    return {name: f"127.0.0.1:{server.bound_port}" for name, server in servers.items()}


async def test_a_stopped_service_makes_readyz_and_calls_503(
    services: dict[str, ServiceServer], database_urls: dict[str, str]
) -> None:
    profile = await start_service("profile", database_urls["profile"])
    routes = {**addresses(services), "profile": f"127.0.0.1:{profile.bound_port}"}
    async with gateway_client(gateway_settings(routes, api_key_cache_seconds=0)) as api:
        tenant = await create_tenant(api, "Outage shop")
        assert (await api.get("/readyz")).status_code == 200
        await profile.stop(grace=1)
        ready = await api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["services"]["profile"] != "SERVING"
        call = await api.post(
            "/v1/customers/identify",
            json={"identities": [{"type": "app_user_id", "value": "u1"}]},
            headers=tenant.headers,
        )
        assert call.status_code == 503
        assert call.headers["content-type"] == "application/problem+json"
        assert "profile" in call.json()["detail"]


async def test_a_service_that_never_listened_is_503(services: dict[str, ServiceServer]) -> None:
    routes = {**addresses(services), "scoring": f"127.0.0.1:{free_port()}"}
    async with gateway_client(gateway_settings(routes)) as api:
        response = await api.post(
            "/v1/admin/tenants", json={"name": "x"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 503
        assert (await api.get("/readyz")).json()["services"]["scoring"] == "UNAVAILABLE"


async def test_a_slow_service_is_504_within_the_deadline(
    services: dict[str, ServiceServer], database_urls: dict[str, str]
) -> None:
    async with gateway_client(gateway_settings(addresses(services), rpc_timeout_seconds=0.5)) as api:
        tenant = await create_tenant(api, "Slow shop")
        blocker = await asyncpg.connect(database_urls["profile"])
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE identities IN ACCESS EXCLUSIVE MODE")
            started = asyncio.get_running_loop().time()
            response = await api.post(
                "/v1/customers/identify",
                json={"identities": [{"type": "app_user_id", "value": "slow"}]},
                headers=tenant.headers,
            )
            elapsed = asyncio.get_running_loop().time() - started
            await transaction.rollback()
        finally:
            await blocker.close()
        assert response.status_code == 504
        assert elapsed < 2.0
        assert response.headers["content-type"] == "application/problem+json"
