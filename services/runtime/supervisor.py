"""``patron up``: the whole system on one machine, from one command.

It prepares ``.patron/`` (admin token, the secrets each service's plug-in asks for, embedded
PostgreSQL unless database URLs are set), migrates every service, starts the four services and the
gateway as child processes, restarts a child that dies (with backoff, and says so), waits until
``/readyz`` is green, and prints the URL and the admin token. SIGINT or SIGTERM stops every child and
the database within 15 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from services.runtime import migrations
from services.runtime.embedded_postgres import EmbeddedPostgres
from services.runtime.plugins import GeneratedSecrets, default_grpc_port, plugin_of, settings_class
from services.runtime.settings import SERVICE_NAMES

CHILD_STOP_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_RUN_SECONDS = 60.0


def say(message: str, stream: TextIO = sys.stdout) -> None:
    """Progress for the person at the terminal."""
    print(f"patron: {message}", file=stream, flush=True)


def _secret_file(path: Path, make: str) -> str:
    """Read a secret kept under .patron/, creating it (mode 600) the first time."""
    if path.exists():
        return path.read_text().strip()
    path.write_text(make + "\n")
    path.chmod(0o600)
    return make


def _fill_secrets(environment: dict[str, str], group: GeneratedSecrets, home: Path) -> None:
    """Set a service's generated secrets from ``home`` when the environment leaves the first unset."""
    first = next(iter(group.files))
    if environment.get(first):
        return
    for variable, file_name in group.files.items():
        environment[variable] = _secret_file(home / file_name, group.generate())


@dataclass
class Child:
    """A supervised process: how to start it, and its restart history."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    backoff: float = 1.0

    async def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self.started_at = time.monotonic()


REPLICA_PORT_STRIDE = 1000
"""Replica ``i`` of a service listens on its port plus ``i`` times this (50051, 51051, ...)."""
CORES_PER_REPLICA = 4
"""``patron up`` runs one process per service for every this many cores (at least one): each
process is one event loop, and five kinds of process and PostgreSQL share the cores."""


SINGLE_PROCESS_POOL = 20
"""A service process's default pool (``PATRON_<SERVICE>_DB_POOL_SIZE``); replicas share less each."""


def replica_pool_size(replicas: int) -> int:
    """Each replica's connection pool when ``patron up`` runs several processes of a service and
    the pool size is not configured: the embedded PostgreSQL allows 100 connections, which one
    process per service at 20 each (plus listeners and the hot pools: loyalty's 8, profile's,
    scoring's and notify's 4) already nears. Found when two replicas at 20 answered "too many
    clients" under the identify benchmark."""
    return max(4, SINGLE_PROCESS_POOL // (replicas + 1))


def replica_hot_pool_size(single_process: int, replicas: int) -> int:
    """Each replica's hot pool (``services.runtime.hot_pool``) when not configured: the replicas
    share the single process's connections, two at least so that one slow statement does not
    stall a replica's hot path."""
    return max(2, single_process // replicas)


def default_replicas(cores: int | None = None) -> int:
    """How many processes of each service ``patron up`` starts on a machine of ``cores`` cores."""
    return max(1, (cores or os.cpu_count() or 1) // CORES_PER_REPLICA)


def child_name(service: str, replica: int) -> str:
    """``profile`` for the first replica, ``profile-2`` for the second, ..."""
    return service if replica == 0 else f"{service}-{replica + 1}"


@dataclass
class Supervisor:
    home: Path
    environ: Mapping[str, str]
    replicas: int = 1
    children: list[Child] = field(default_factory=list)
    database: EmbeddedPostgres | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def _database_urls(self) -> dict[str, str]:
        return {
            s: self.environ[f"PATRON_{s.upper()}_DATABASE_URL"]
            for s in SERVICE_NAMES
            if self.environ.get(f"PATRON_{s.upper()}_DATABASE_URL")
        }

    async def _prepare_databases(self) -> dict[str, str]:
        urls = self._database_urls()
        missing = [s for s in SERVICE_NAMES if s not in urls]
        if missing:
            say(f"starting embedded PostgreSQL in {self.home / 'pgdata'} ...")
            self.database = await asyncio.to_thread(EmbeddedPostgres.start, self.home / "pgdata")
            await self.database.ensure_databases([f"patron_{s}" for s in missing])
            urls.update({s: self.database.url(f"patron_{s}") for s in missing})
            say("PostgreSQL is up")
        for service in SERVICE_NAMES:
            say(f"migrating {service} ...")
            await asyncio.to_thread(migrations.upgrade, service, urls[service])
        return urls

    def _child_environments(self, urls: dict[str, str]) -> tuple[dict[str, dict[str, str]], str, int]:
        base = dict(self.environ)
        base.setdefault("PATRON_ENV", "development")
        admin_token = base.get("PATRON_ADMIN_TOKEN") or _secret_file(
            self.home / "admin_token", secrets.token_urlsafe(32)
        )
        base["PATRON_ADMIN_TOKEN"] = admin_token
        for service in SERVICE_NAMES:
            for group in plugin_of(service).secrets:
                _fill_secrets(base, group, self.home)
        environments: dict[str, dict[str, str]] = {}
        ports = {
            s: int(base.get(f"PATRON_{s.upper()}_GRPC_PORT", default_grpc_port(s))) for s in SERVICE_NAMES
        }
        replica_ports = {
            s: [port + REPLICA_PORT_STRIDE * i for i in range(self.replicas)] for s, port in ports.items()
        }
        for caller in (*SERVICE_NAMES, "gateway"):
            for callee, callee_ports in replica_ports.items():
                base[f"PATRON_{caller.upper()}_{callee.upper()}_ADDRESS"] = _target(callee_ports)
        for service in SERVICE_NAMES:
            prefix = f"PATRON_{service.upper()}_"
            for replica, port in enumerate(replica_ports[service]):
                environments[child_name(service, replica)] = {
                    **base,
                    prefix + "DATABASE_URL": urls[service],
                    prefix + "GRPC_HOST": base.get(prefix + "GRPC_HOST", "127.0.0.1"),
                    prefix + "GRPC_PORT": str(port),
                    **_offset_ports(base, prefix, replica),
                    **self._pool_sizes(base, service, prefix),
                }
        gateway_port = int(base.get("PATRON_GATEWAY_PORT", "8080"))
        # Where customers reach the gateway (links in messages); a deployment sets its own.
        public_url = base.setdefault("PATRON_PUBLIC_URL", f"http://127.0.0.1:{gateway_port}")
        for environment in environments.values():
            environment["PATRON_PUBLIC_URL"] = public_url
        environments["gateway"] = {**base, "PATRON_GATEWAY_PORT": str(gateway_port)}
        return environments, admin_token, gateway_port

    def _pool_sizes(self, base: Mapping[str, str], service: str, prefix: str) -> dict[str, str]:
        """Each of several replicas' pool and hot pool sizes, those not configured (one process:
        its defaults)."""
        if self.replicas == 1:
            return {}
        sizes: dict[str, str] = {}
        if not base.get(prefix + "DB_POOL_SIZE"):
            sizes[prefix + "DB_POOL_SIZE"] = str(replica_pool_size(self.replicas))
        if not base.get(prefix + "DB_HOT_POOL_SIZE"):
            single = settings_class(service).model_fields["db_hot_pool_size"].default
            sizes[prefix + "DB_HOT_POOL_SIZE"] = str(replica_hot_pool_size(single, self.replicas))
        return sizes

    async def _watch(self, child: Child) -> None:
        """Restart ``child`` whenever it exits, with doubling backoff, until the system stops."""
        while not self.stopping.is_set():
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            ran = time.monotonic() - child.started_at
            if ran > HEALTHY_RUN_SECONDS:
                child.backoff = 1.0
            say(
                f"{child.name} exited with code {code}; restarting in {child.backoff:.0f} s "
                f"(log: {child.log_path})",
                sys.stderr,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), child.backoff)
            if self.stopping.is_set():
                return
            child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)
            await child.start()

    async def _wait_ready(self, url: str) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last = ""
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline and not self.stopping.is_set():
                try:
                    response = await client.get(f"{url}/readyz")
                    if response.status_code == 200:
                        return True
                    statuses = response.json().get("services", {})
                    ready = sorted(s for s, status in statuses.items() if status == "SERVING")
                    line = f"waiting for services ... ready: {', '.join(ready) or 'none yet'}"
                except httpx.HTTPError:
                    line = "waiting for the gateway ..."
                if line != last:
                    say(line)
                    last = line
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.3)
        return False

    async def _stop_children(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), CHILD_STOP_SECONDS)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    say(f"process {process.pid} did not stop in time; killing it", sys.stderr)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))

    async def run(self) -> int:
        """Bring the system up, keep it up until signalled, then take it down. Returns an exit code."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stopping.set)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        watchers: list[asyncio.Task[None]] = []
        try:
            urls = await self._prepare_databases()
            environments, admin_token, gateway_port = self._child_environments(urls)
            for name in environments:  # every service's replicas, then the gateway
                module = "gateway" if name == "gateway" else f"services.{name.split('-')[0]}"
                argv = [sys.executable, "-m", module]
                child = Child(name, argv, environments[name], self.home / "logs" / f"{name}.log")
                await child.start()
                self.children.append(child)
                say(f"started {name} (pid {child.process.pid if child.process else '?'})")
            watchers = [asyncio.create_task(self._watch(c)) for c in self.children]
            url = f"http://127.0.0.1:{gateway_port}"
            if await self._wait_ready(url):
                say("all services are SERVING")
                print(
                    f"\n  Patron is up.\n  Gateway:     {url}\n  API docs:    {url}/docs\n"
                    f"  Admin token: {admin_token}\n  Logs:        {self.home / 'logs'}\n\n"
                    "  Ctrl-C stops everything.\n",
                    flush=True,
                )
            elif not self.stopping.is_set():
                say(f"not ready after {READY_TIMEOUT_SECONDS:.0f} s; see {self.home / 'logs'}", sys.stderr)
            await self.stopping.wait()
            say("stopping ...")
            return 0
        finally:
            self.stopping.set()
            for watcher in watchers:
                watcher.cancel()
            await self._stop_children()
            if self.database is not None:
                await self.database.stop_async()
            say("stopped")


def _target(ports: list[int]) -> str:
    """The gRPC target of a service's replicas on this machine (channels balance over them)."""
    if len(ports) == 1:
        return f"127.0.0.1:{ports[0]}"
    return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)


def _offset_ports(base: Mapping[str, str], prefix: str, replica: int) -> dict[str, str]:
    """A replica's own metrics and health ports, when the first replica's are set (0: none)."""
    offset: dict[str, str] = {}
    for name in ("METRICS_PORT", "HEALTH_PORT"):
        value = base.get(prefix + name, "")
        if replica and value.isdigit() and int(value):
            offset[prefix + name] = str(int(value) + REPLICA_PORT_STRIDE * replica)
    return offset


def up(home: Path, replicas: int | None = None) -> int:
    """Entry of ``patron up``: ``replicas`` processes of each service (default: by the cores)."""
    count = replicas or default_replicas()
    return asyncio.run(Supervisor(home=home, environ=os.environ, replicas=count).run())
