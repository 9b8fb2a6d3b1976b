"""Test infrastructure: a real PostgreSQL, per-run databases, real gRPC servers on free ports."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import grpc

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime import migrations
from services.runtime.plugins import settings_class
from services.runtime.server import ServiceServer
from services.runtime.service_main import Builder, build_server
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from services.runtime.status_collect import collect

# Fixed test keys: the tests read raw tables and need to know how values were sealed.
TEST_PII_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
TEST_PII_INDEX_KEY = base64.urlsafe_b64encode(b"i" * 32).decode()
TEST_RUNTIME = RuntimeSettings(env="test", log_format="text")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run_command(
    *command: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    limit_seconds: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run a program to its end without blocking the event loop, its output as text.

    The suite's four services run on the test session's event loop; ``subprocess.run`` from a test
    would freeze them for the program's whole run (their 1 s consumer leases lapse and the next
    test meets a backlog), so tests that start programs await this instead."""
    process = await asyncio.create_subprocess_exec(
        *command,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return subprocess.CompletedProcess(list(command), process.returncode, stdout.decode(), stderr.decode())


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database."""
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{database}"))


class PostgresServer:
    """The PostgreSQL the tests use: PATRON_TEST_DATABASE_URL when set, else an embedded one."""

    def __init__(self, url: str, embedded: object | None = None, created: str | None = None) -> None:
        self.url = url  # plain postgresql:// URL of a database we may connect to
        self._embedded = embedded
        self._created = created  # the run's own database, created (and dropped) by the tests

    @classmethod
    def start(cls, scratch: Path) -> PostgresServer:
        """Use PATRON_TEST_DATABASE_URL (creating that database when missing), else start pgserver."""
        configured = os.environ.get("PATRON_TEST_DATABASE_URL")
        if configured:
            url = configured.replace("postgresql+asyncpg://", "postgresql://")
            created = asyncio.run(cls._ensure_database(url))
            return cls(url, created=created)
        import pgserver

        server = pgserver.get_server(scratch / "pgdata", cleanup_mode="stop")
        return cls(server.get_uri(), server)

    @staticmethod
    async def _ensure_database(url: str) -> str | None:
        name = urlparse(url).path.lstrip("/")
        try:
            await (await asyncpg.connect(url)).close()
            return None
        except asyncpg.InvalidCatalogNameError:
            pass
        connection = await asyncpg.connect(with_database(url, "postgres"))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return name

    def database_url(self, database: str) -> str:
        return with_database(self.url, database)

    async def create_database(self, name: str) -> str:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.database_url(name)

    async def drop_database(self, name: str) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    def stop(self) -> None:
        if self._created is not None:
            maintenance = PostgresServer(with_database(self.url, "postgres"))
            asyncio.run(maintenance.drop_database(self._created))
        if self._embedded is not None:
            self._embedded.cleanup()  # type: ignore[attr-defined]


def builder_for(service: str) -> Builder:
    module = __import__(f"services.{service}.app", fromlist=["build"])
    builder: Builder = module.build
    return builder


TEST_POOL_SIZE = 8
"""Connections each in-process service may hold (production's default is 20). With the replica
test's eight servers beside the session's four, the suite peaked at 93 of the machine's 100
connections with 10 here (sampled from pg_stat_activity during a whole run)."""
TEST_HOT_POOL_SIZE = 2
"""Raw connections each in-process service's hot paths may hold (production's: loyalty 8, others 4)."""


def service_settings(service: str, database_url: str, **overrides: object) -> object:
    extra: dict[str, object] = {}
    if service == "profile":
        extra = {
            "pii_key": TEST_PII_KEY,
            "pii_index_key": TEST_PII_INDEX_KEY,
            # Argon2id at the least cost the settings allow: the suite signs operators in many times
            # on a shared machine (production keeps RFC 9106's 64 MiB, three passes).
            "password_hash_memory_kib": 8192,
            "password_hash_time_cost": 1,
            "password_hash_parallelism": 1,
        }
    values: dict[str, object] = {
        "database_url": database_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "db_check_interval_seconds": 0.2,
        # the machine's PostgreSQL may allow only 100 connections for the whole suite: the session's
        # four services (each a pool and a hot pool), the notify processes some tests start and the tests'
        # own connections
        "db_pool_size": TEST_POOL_SIZE,
        "db_hot_pool_size": TEST_HOT_POOL_SIZE,
        "run_cooldown_seconds": 0,  # scoring (others ignore it): tests start manual runs back to back
        **extra,
        **overrides,
    }
    return settings_class(service).model_validate(values)


async def start_service(service: str, database_url: str, **overrides: object) -> ServiceServer:
    """A real gRPC server of ``service`` on a free port, SERVING once its database answers."""
    settings = service_settings(service, database_url, **overrides)
    server = build_server(service, builder_for(service), settings, TEST_RUNTIME)  # type: ignore[arg-type]
    await server.start()
    await wait_serving(server)
    return server


async def wait_serving(server: ServiceServer, limit_seconds: float = 10.0) -> None:
    from grpc import aio
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with aio.insecure_channel(f"127.0.0.1:{server.bound_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = asyncio.get_running_loop().time() + limit_seconds
        while True:
            response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{server.name} never became SERVING")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def service_database(postgres: PostgresServer, service: str, purpose: str) -> AsyncIterator[str]:
    """One fresh, migrated database of ``service`` (named after ``purpose``), dropped afterwards: for
    tests whose rows, statistics or background rounds must not meet the session's."""
    name = f"patron_{purpose}_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    try:
        await asyncio.to_thread(migrations.upgrade, service, url)
        yield url
    finally:
        await postgres.drop_database(name)


@asynccontextmanager
async def migrated_databases(postgres: PostgresServer) -> AsyncIterator[dict[str, str]]:
    """One fresh, migrated database per service for this run; dropped afterwards."""
    run = uuid.uuid4().hex[:8]
    names = {service: f"patron_test_{run}_{service}" for service in SERVICE_NAMES}
    urls = {service: await postgres.create_database(name) for service, name in names.items()}
    try:
        for service, url in urls.items():
            await asyncio.to_thread(migrations.upgrade, service, url)
        yield urls
    finally:
        for name in names.values():
            await postgres.drop_database(name)


async def caught_up(
    consumers_at: Mapping[str, str], producers_at: Mapping[str, str], limit_seconds: float = 300.0
) -> None:
    """Until every consumer served by ``consumers_at`` (name → gRPC address) has read each partition of
    its producer (``producers_at``) as far as that partition's head when this was called, and has no
    deferred work left.

    A consumer that starts on a database of its own reads the producer's whole history first: in a
    long session that is every event earlier tests stored, and a test that waits for one fresh effect
    meanwhile (a consent kept, a customer known) measures that history, not what it tests. Tests that
    start such a consumer, or leave such a history behind, wait here."""
    heads: dict[str, dict[int, int]] = {}
    for producer, address in producers_at.items():
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                answer = await envelope_pb2_grpc.EventStreamStub(channel).GetHeads(
                    envelope_pb2.GetHeadsRequest(), timeout=5
                )
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                continue
        heads[producer] = {p.partition: p.head for p in answer.partitions}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_seconds
    behind: list[str] = ["no consumer reported yet"]
    while loop.time() < deadline:
        report = await collect(consumers_at)
        behind = [
            f"{c.consumer}: partition {p.partition} at {p.position} of {heads[c.producer][p.partition]}"
            for c in report.consumers
            if c.producer in heads
            for p in c.partitions
            if p.position < heads[c.producer].get(p.partition, 0)
        ] + [f"{c.consumer}: {c.deferred_pending} deferred" for c in report.consumers if c.deferred_pending]
        if report.consumers and not behind:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"consumers still behind after {limit_seconds} s: {behind[:5]}")


def session_addresses(services: Mapping[str, ServiceServer]) -> dict[str, str]:
    """The session services' gRPC addresses by name."""
    return {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
