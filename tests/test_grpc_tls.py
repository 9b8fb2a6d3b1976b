"""TLS and mutual TLS between the gateway and the services (``PATRON_GRPC_TLS_*``), with certificates
made at test time: real services serving TLS (with mutual TLS, all four, calling each other and
reading each other's event streams over it), the real gateway calling them through its channels, and
clients that must be refused (plaintext, no certificate, another CA's certificate).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import create_app
from services.runtime.grpc_tls import GrpcTls, client_channel, load_grpc_tls, peer_channel, transport_security
from services.runtime.server import ServiceServer
from services.runtime.service_main import build_server
from services.runtime.settings import RuntimeSettings
from services.runtime.status_collect import collect
from tests.certificates import Authority, Issued
from tests.conftest import ADMIN_TOKEN, TenantKey, gateway_settings
from tests.support import builder_for, free_port, service_settings

PHONE = {"type": "phone", "value": "+8613800138000"}


@dataclass(frozen=True)
class Pki:
    """One CA with a server and a client certificate, and a second CA nobody trusts."""

    ca: Authority
    server: Issued
    client: Issued
    stranger: Issued  # issued by the other CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority.create(directory, "patron-ca")
    other = Authority.create(directory, "other-ca")
    return Pki(
        ca=ca,
        # patron.internal too: the name a server-name override may check instead of the dialled host
        server=ca.issue("services", hosts=("127.0.0.1", "localhost", "patron.internal")),
        client=ca.issue("gateway"),
        stranger=other.issue("intruder", hosts=("127.0.0.1",)),
    )


def runtime(**tls: object) -> RuntimeSettings:
    return RuntimeSettings.model_validate({"env": "test", "log_format": "text", **tls})


def server_runtime(pki: Pki, *, client_auth: bool) -> RuntimeSettings:
    return runtime(
        grpc_tls_cert=str(pki.server.cert),
        grpc_tls_key=str(pki.server.key),
        grpc_tls_ca=str(pki.ca.pem),
        grpc_tls_client_auth=client_auth,
    )


async def start_tls_service(
    name: str, database_url: str, settings: RuntimeSettings, **addresses: str
) -> ServiceServer:
    """A real service on TLS, with its plaintext health port, SERVING once it answers there."""
    values = service_settings(
        name, database_url, health_port=free_port(), consumer_lease_seconds=1.0, **addresses
    )
    server = build_server(name, builder_for(name), values, settings)  # type: ignore[arg-type]
    await server.start()
    assert await health(f"127.0.0.1:{server.bound_health_port}", None, wait=True) == "SERVING"
    return server


@asynccontextmanager
async def tls_services(
    database_urls: dict[str, str], settings: RuntimeSettings, names: tuple[str, ...]
) -> AsyncIterator[dict[str, ServiceServer]]:
    """``names`` started in order, each told where the ones before it listen (as tests/conftest.py)."""
    servers: dict[str, ServiceServer] = {}
    try:
        for name in names:
            addresses = {f"{n}_address": f"127.0.0.1:{s.bound_port}" for n, s in servers.items()}
            servers[name] = await start_tls_service(name, database_urls[name], settings, **addresses)
        yield servers
    finally:
        for server in servers.values():
            await server.stop(grace=0.5)


async def health(address: str, tls: GrpcTls | None, *, wait: bool = False) -> str:
    """The health status the service at ``address`` answers, or the gRPC code that refused us."""
    async with client_channel(address, tls) as channel:
        for _ in range(100 if wait else 1):
            status = await check(channel)
            if status == "SERVING" or not wait:
                return status
            await asyncio.sleep(0.05)
        return status


async def check(channel: grpc.aio.Channel) -> str:
    """SERVING or NOT_SERVING as the service answers, else the code of the failed call."""
    try:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.aio.AioRpcError as error:
        code: str = error.code().name
        return code
    status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return status


def tls_of(**settings: object) -> GrpcTls:
    loaded = load_grpc_tls(runtime(**settings))
    assert loaded is not None
    return loaded


def addresses_of(servers: dict[str, ServiceServer]) -> dict[str, str]:
    return {name: f"127.0.0.1:{server.bound_port}" for name, server in servers.items()}


@asynccontextmanager
async def gateway(addresses: dict[str, str], settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app calling the services at ``addresses``, with ``settings``' transport."""
    app = create_app(gateway_settings(addresses), settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def identified(api: httpx.AsyncClient, key: str) -> httpx.Response:
    """A customer identified through the gateway: the key resolved and the customer found or made,
    two calls to profile."""
    return await api.post(
        "/v1/customers/identify", json={"identities": [PHONE]}, headers={"Authorization": f"Bearer {key}"}
    )


async def new_tenant(api: httpx.AsyncClient) -> httpx.Response:
    """A tenant created through the gateway: provisioned in all four services."""
    return await api.post(
        "/v1/admin/tenants", json={"name": "TLS shop"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )


async def test_the_gateway_calls_a_service_over_tls_and_plaintext_is_refused(
    database_urls: dict[str, str], pki: Pki, tenant: TenantKey
) -> None:
    """A profile replica serving TLS (the tenant comes from the suite's plaintext services, which
    share its database)."""
    async with tls_services(database_urls, server_runtime(pki, client_auth=False), ("profile",)) as servers:
        address = addresses_of(servers)["profile"]
        ca = str(pki.ca.pem)
        async with gateway(addresses_of(servers), runtime(grpc_tls_ca=ca)) as api:
            answer = await identified(api, tenant.api_key)
            assert answer.status_code in (200, 201), answer.text
        # The CA verifies the server, by the dialled address or name (both in its certificate).
        assert await health(address, tls_of(grpc_tls_ca=ca)) == "SERVING"
        assert await health(address.replace("127.0.0.1", "localhost"), tls_of(grpc_tls_ca=ca)) == "SERVING"
        # A plaintext client gets no answer from the TLS port, only from the health port.
        assert await health(address, None) == "UNAVAILABLE"
        assert await health(f"127.0.0.1:{servers['profile'].bound_health_port}", None) == "SERVING"
        # A client that trusts another CA refuses the server's certificate; the gateway then answers
        # 503, it never falls back to plaintext.
        other_ca = str(pki.stranger.cert.parent / "other-ca.pem")
        assert await health(address, tls_of(grpc_tls_ca=other_ca)) == "UNAVAILABLE"
        async with gateway(addresses_of(servers), runtime(grpc_tls_ca=other_ca)) as api:
            refused = await identified(api, tenant.api_key)
            assert refused.status_code == 503, refused.text


async def test_mutual_tls_serves_only_clients_with_a_certificate_of_the_ca(
    database_urls: dict[str, str], pki: Pki
) -> None:
    """All four services on mutual TLS: the gateway creates a tenant (a call to each), ``patron
    status`` asks them, and a service's channel to another (``peer_channel``, which every call and
    event stream between services uses) speaks it too."""
    ca = str(pki.ca.pem)
    mutual = {
        "grpc_tls_ca": ca,
        "grpc_tls_cert": str(pki.client.cert),
        "grpc_tls_key": str(pki.client.key),
        "grpc_tls_client_auth": True,
    }
    names = ("profile", "loyalty", "scoring", "notify")
    async with tls_services(database_urls, server_runtime(pki, client_auth=True), names) as servers:
        addresses = addresses_of(servers)
        async with gateway(addresses, runtime(**mutual)) as api:
            created = await new_tenant(api)
            assert created.status_code == 201, created.text
            answer = await identified(api, created.json()["api_key"])
            assert answer.status_code in (200, 201), answer.text
            assert (await api.get("/readyz")).status_code == 200
        report = await collect(addresses, tls=tls_of(**mutual))
        assert {s.name: s.health for s in report.services} == dict.fromkeys(names, "SERVING")
        address = addresses["profile"]
        assert await health(address, tls_of(**mutual)) == "SERVING"
        loyalty_settings = service_settings("loyalty", database_urls["loyalty"], profile_address=address)
        for settings, expected in (
            (server_runtime(pki, client_auth=True), "SERVING"),
            (runtime(), "UNAVAILABLE"),
        ):
            async with peer_channel(loyalty_settings, "profile", settings) as channel:  # type: ignore[arg-type]
                assert await check(channel) == expected
        # Without a certificate, with another CA's, or in plaintext: refused in the handshake.
        assert await health(address, tls_of(grpc_tls_ca=ca)) == "UNAVAILABLE"
        stranger = {**mutual, "grpc_tls_cert": str(pki.stranger.cert), "grpc_tls_key": str(pki.stranger.key)}
        assert await health(address, tls_of(**stranger)) == "UNAVAILABLE"
        assert await health(address, None) == "UNAVAILABLE"
        async with gateway(addresses, runtime(grpc_tls_ca=ca)) as api:
            assert (await new_tenant(api)).status_code == 503
        # The server-name override checks that name instead of the dialled host.
        assert await health(address, tls_of(**mutual, grpc_tls_server_name="patron.internal")) == "SERVING"
        assert await health(address, tls_of(**mutual, grpc_tls_server_name="other.internal")) == "UNAVAILABLE"


def test_production_refuses_plaintext_unless_acknowledged(pki: Pki) -> None:
    production = {"env": "production", "log_format": "text"}
    with pytest.raises(ValueError, match="PATRON_GRPC_TLS_DISABLED"):
        transport_security(RuntimeSettings.model_validate(production), "gateway")
    assert (
        transport_security(RuntimeSettings.model_validate({**production, "grpc_tls_disabled": True}), "x")
        is None
    )
    secured = RuntimeSettings.model_validate({**production, "grpc_tls_ca": str(pki.ca.pem)})
    assert transport_security(secured, "gateway") is not None
    # The gateway and a service stop at start, naming the setting.
    with pytest.raises(ValueError, match="PATRON_GRPC_TLS_DISABLED"):
        create_app(
            gateway_settings({}, admin_token="a-production-admin-token-0123456789"),
            RuntimeSettings.model_validate(production),
        )


async def test_a_service_refuses_plaintext_in_production_at_start() -> None:
    # Async: building the server makes a grpc.aio channel, which wants the running loop; a
    # synchronous test depended on the main thread still having a default loop to hand out.
    settings = service_settings("loyalty", "postgresql://postgres@127.0.0.1:1/none")
    production = RuntimeSettings.model_validate({"env": "production", "log_format": "text"})
    with pytest.raises(ValueError, match="PATRON_GRPC_TLS_DISABLED"):
        build_server("loyalty", builder_for("loyalty"), settings, production)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"grpc_tls_client_auth": True}, "need TLS"),
        ({"grpc_tls_server_name": "patron.internal"}, "need TLS"),
        ({"grpc_tls_cert": "{server.cert}"}, "together"),
        ({"grpc_tls_ca": "{ca}", "grpc_tls_client_auth": True}, "mutual TLS"),
        ({"grpc_tls_ca": "{ca}", "grpc_tls_disabled": True}, "contradicts"),
        ({"grpc_tls_ca": "/nonexistent/ca.pem"}, "PATRON_GRPC_TLS_CA: cannot read"),
        ({"grpc_tls_ca": "{server.key}.missing"}, "cannot read"),
        ({"grpc_tls_ca": "{readme}"}, "not a PEM file"),
    ],
)
def test_an_incomplete_tls_configuration_is_refused_naming_the_setting(
    pki: Pki, tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    readme = tmp_path / "readme.txt"
    readme.write_text("not a certificate")
    values = {
        name: value.format(server=pki.server, ca=pki.ca.pem, readme=readme)
        if isinstance(value, str)
        else value
        for name, value in settings.items()
    }
    with pytest.raises(ValueError, match=message):
        load_grpc_tls(runtime(**values))


def test_a_client_only_configuration_cannot_serve(pki: Pki) -> None:
    """The gateway needs only the CA; a service with only the CA would have nothing to serve with."""
    with pytest.raises(ValueError, match="PATRON_GRPC_TLS_CERT and PATRON_GRPC_TLS_KEY"):
        tls_of(grpc_tls_ca=str(pki.ca.pem)).check_can_serve()


def test_every_channel_of_the_code_goes_through_grpc_tls() -> None:
    """A channel opened with ``grpc.aio.insecure_channel`` elsewhere would stay plaintext whatever
    PATRON_GRPC_TLS_* says (tests and benchmarks talk to local servers and may)."""
    root = Path(__file__).resolve().parent.parent
    offenders = [
        str(path.relative_to(root))
        for folder in ("services", "gateway")
        for path in sorted((root / folder).rglob("*.py"))
        if path.name != "grpc_tls.py"
        and any(word in path.read_text() for word in ("insecure_channel(", "secure_channel("))
    ]
    assert offenders == []
