"""Fixtures shared by every test: the database server, the four services, the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.runtime.events.sequencer import Sequencer
from services.runtime.hot_pool import HotConnections
from services.runtime.server import ServiceServer
from services.runtime.settings import SERVICE_NAMES
from tests.support import TEST_RUNTIME, PostgresServer, migrated_databases, start_service

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
START_ORDER = ("profile", "loyalty", "scoring", "notify")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer.start(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def database_urls(postgres: PostgresServer) -> AsyncIterator[dict[str, str]]:
    async with migrated_databases(postgres) as urls:
        yield urls


@pytest.fixture(scope="session")
def journey_clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file whose seconds move the session notify's journey clock on (see journey_clock.py)."""
    return tmp_path_factory.mktemp("journey-clock") / "offset"


@pytest.fixture(scope="session")
async def services(
    database_urls: dict[str, str], journey_clock: Path
) -> AsyncIterator[dict[str, ServiceServer]]:
    servers: dict[str, ServiceServer] = {}
    # These four run on the session's event loop, which runs only while an async test or fixture
    # awaits: a test that blocks (a program started with subprocess.run, minutes of CPU) stops them,
    # their 1 s consumer leases lapse and the next test meets the backlog. Tests start programs with
    # tests.support.run_command and push long CPU work to a thread.
    # Each service starts after the producers it consumes, since it learns their (free) ports from
    # the servers already running: profile first, loyalty before scoring (which consumes both).
    for name in sorted(SERVICE_NAMES, key=START_ORDER.index):
        addresses = {f"{n}_address": f"127.0.0.1:{s.bound_port}" for n, s in servers.items()}
        servers[name] = await start_service(
            name,
            database_urls[name],
            consumer_lease_seconds=1.0,
            segment_due_every_seconds=0.5,
            journey_clock_file=str(journey_clock),
            journey_idle_seconds=0.2,
            journey_sweep_seconds=0.5,
            **addresses,
        )
    yield servers
    for server in servers.values():
        await server.stop(grace=1)


# The suite's own gateway keeps its rate limits on but far above what any test sends (many tests
# answer 401 from one address); tests/test_rate_limits.py sets the limits it tests.
UNTHROTTLED: dict[str, object] = {
    f"rate_{bucket}_{unit}": 1_000_000
    for bucket in (
        "tenant",
        "key",
        "export",
        "timeline",
        "listing",
        "scoring_run",
        "failed_auth",
        "login_account",
        "login_address",
    )
    for unit in ("per_second", "burst")
}


def gateway_settings(addresses: dict[str, str], **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        **UNTHROTTLED,
        # The services share the tests' event loop, which a busy moment of the suite can hold for
        # longer than the 360's production deadline (0.25 s): a test wants whole answers, and the
        # degradation test sets its own short deadline.
        "customer_360_deadline_seconds": 2.0,
        # Likewise the per-call deadline (2 s in production): a test asserts what a call answers, and
        # a stall of the shared machine (a checkpoint forced by a test's DROP DATABASE) must not turn
        # that into a 504; the deadline tests set their own short one.
        "rpc_timeout_seconds": 10.0,
        "admin_token": ADMIN_TOKEN,
        **{f"{name}_address": address for name, address in addresses.items()},
        **overrides,
    }
    return GatewaySettings.model_validate(values)


@asynccontextmanager
async def gateway_client(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app, in process, with its lifespan (channels) running."""
    app = create_app(settings, TEST_RUNTIME)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


@pytest.fixture(scope="session")
async def api(services: dict[str, ServiceServer]) -> AsyncIterator[httpx.AsyncClient]:
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    async with gateway_client(gateway_settings(addresses)) as client:
        yield client


@dataclass(frozen=True)
class TenantKey:
    tenant_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def create_tenant(api: httpx.AsyncClient, name: str = "Test shop", **fields: str) -> TenantKey:
    response = await api.post(
        "/v1/admin/tenants",
        json={"name": name, **fields},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return TenantKey(body["tenant_id"], body["api_key"])


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> TenantKey:
    return await create_tenant(api, "Shop A")


@pytest.fixture
async def other_tenant(api: httpx.AsyncClient) -> TenantKey:
    return await create_tenant(api, "Shop B")


@pytest.fixture
async def event_db(postgres: PostgresServer) -> AsyncIterator[str]:
    """A fresh database with the event runtime's tables (see tests/eventkit.py)."""
    from tests import eventkit

    name = f"patron_events_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await eventkit.create_schema(url)
    yield url
    await postgres.drop_database(name)


@pytest.fixture
async def loyalty_hot_db(database_urls: dict[str, str]) -> AsyncIterator[tuple[Database, HotConnections]]:
    """The session's loyalty database through a pool of its own and a hot pool (raw asyncpg), for
    tests of the one-statement paths against the transactional ones."""
    db = Database(create_engine(database_urls["loyalty"], application_name="test-loyalty-hot", pool_size=5))
    hot = HotConnections(db, "loyalty", size=4)
    yield db, hot
    await hot.close()
    await db.dispose()


@pytest.fixture
async def producer(event_db: str) -> AsyncIterator[tuple[ServiceServer, Outbox, Sequencer]]:
    """The eventkit producer's gRPC stream, listener and sequencer, running."""
    from tests import eventkit

    server, outbox, sequencer = eventkit.producer_server(event_db)
    await server.start()
    yield server, outbox, sequencer
    await server.stop(grace=0.5)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
