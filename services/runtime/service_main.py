"""How a service process starts: settings, telemetry, database, server, signals.

Each service module provides a ``build`` function that turns its settings and database into the
registrations it serves; :func:`build_server` (used by tests too) and :func:`run_service` do the rest.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from services.runtime.database import Database
from services.runtime.dev_secrets import refuse_development_password
from services.runtime.grpc_tls import transport_security
from services.runtime.plugins import settings_class
from services.runtime.server import BackgroundTask, Registration, ServiceServer, serve_until_signalled
from services.runtime.settings import RuntimeSettings, ServiceSettings
from services.runtime.startup_heap import freeze_startup_heap
from services.runtime.telemetry import setup_logging, setup_tracing, start_metrics_server


@dataclass(frozen=True)
class ServiceParts:
    """What a service serves, and which of its methods are called without a tenant."""

    registrations: Sequence[Registration]
    tenant_exempt_methods: frozenset[str] = frozenset()
    background: Sequence[BackgroundTask] = field(default_factory=tuple)


Builder = Callable[[ServiceSettings, RuntimeSettings, Database], ServiceParts]


def build_server(
    name: str, builder: Builder, settings: ServiceSettings, runtime: RuntimeSettings
) -> ServiceServer:
    """Assemble a service's server from its settings (nothing is bound until ``start``).

    Raises ValueError when the settings cannot serve: a known development secret in production,
    TLS files missing or unreadable, plaintext in production without the acknowledgement.
    """
    refuse_development_password(f"PATRON_{name.upper()}_DATABASE_URL", settings.database_url, runtime)
    database = Database.from_settings(settings, name)
    parts = builder(settings, runtime, database)
    tls = transport_security(runtime, name)
    if tls is not None:
        tls.check_can_serve()
    return ServiceServer(
        name=name,
        database=database,
        registrations=parts.registrations,
        tenant_exempt_methods=parts.tenant_exempt_methods,
        host=settings.grpc_host,
        port=settings.grpc_port,
        db_check_interval=settings.db_check_interval_seconds,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        background=parts.background,
        serve_reflection=runtime.env != "production",
        tls=tls,
        health_port=settings.health_port or None,
    )


def load_settings(name: str) -> tuple[ServiceSettings, RuntimeSettings]:
    """Read and validate the environment; exit with a readable message when it is wrong."""
    try:
        return settings_class(name)(), RuntimeSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"PATRON_{name.upper()}_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        sys.exit(f"patron {name}: invalid configuration: {problems}")


def run_service(name: str, builder: Builder) -> None:
    """Entry point of a service process: serve until SIGTERM/SIGINT, then drain and exit."""
    settings, runtime = load_settings(name)
    setup_logging(runtime, name)
    setup_tracing(name)
    start_metrics_server(settings.metrics_port)

    async def main() -> None:
        try:
            server = build_server(name, builder, settings, runtime)
        except ValueError as error:
            sys.exit(f"patron {name}: {error}")
        freeze_startup_heap()
        await serve_until_signalled(server, settings.shutdown_grace_seconds)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop is absent only on Windows
        asyncio.run(main())
