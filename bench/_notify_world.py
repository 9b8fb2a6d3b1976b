"""What bench/notify.py sets up around the system: the provider peers (out of process), the tenant's
channels, policy and templates, the customers with their consents, and a read-only look into
notify's database (message times, consents kept).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench._common import BenchError, log

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Peers:
    """One ``tests.notify_peers http`` process per channel (each its own port, its own counts)."""

    urls: dict[str, str]
    secret: str
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def stats(self, client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
        """Each channel's peer counts (``received``, ``requests``, ``first_at``, ``last_at``...)."""
        answers = await asyncio.gather(*(client.get(f"{url}/stats") for url in self.urls.values()))
        return {channel: a.json() for channel, a in zip(self.urls, answers, strict=True)}

    async def received(self, client: httpx.AsyncClient) -> dict[str, float]:
        """Every message id any peer received, with its first receipt (epoch seconds)."""
        times: dict[str, float] = {}
        for url in self.urls.values():
            times.update((await client.get(f"{url}/received", timeout=60)).json())
        return times

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]


@contextlib.asynccontextmanager
async def start_peers(channels: Sequence[str], first_port: int, latency_ms: float) -> AsyncIterator[Peers]:
    """Start a peer per channel on ``first_port``, ``first_port + 1``...; stopped on exit."""
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    peers = Peers({}, secret)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "proto")])}
    try:
        for offset, channel in enumerate(channels):
            port = first_port + offset
            command = [sys.executable, "-m", "tests.notify_peers", "http", "--port", str(port)]
            command += ["--latency-ms", str(latency_ms), "--secret", secret]
            peers.processes.append(await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env))
            peers.urls[channel] = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=2) as client:
            deadline = time.monotonic() + 30
            for url in peers.urls.values():
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{url}/stats")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise BenchError(f"the peer at {url} did not start (is the port free?)")
                    await asyncio.sleep(0.2)
        yield peers
    finally:
        for process in peers.processes:
            process.terminate()
        for process in peers.processes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)


async def configure(
    client: httpx.AsyncClient, peers: Peers, cap: dict[str, Any], rate: int
) -> dict[str, str]:
    """Each peer's channel (provider ``http``, signed), the cap, one marketing template per channel;
    answers channel → template id."""
    for channel, url in peers.urls.items():
        settings = {"url": f"{url}/hook", "secret": peers.secret, "rate_per_second": rate}
        answer = await client.put(
            f"/v1/notify/channels/{channel}", json={"provider": "http", "settings": settings}
        )
        _expect(answer, 200, f"PUT channel {channel}")
    await set_policy(client, cap, None)
    templates = {}
    for channel in peers.urls:
        body = {
            "name": f"bench {channel}",
            "channel": channel,
            "purpose": "marketing",
            "subject": "News for {{ customer.nickname }}" if channel == "email" else None,
            "body": "Hi {{ customer.nickname }}, {{ data.offer }} today.",
        }
        answer = await client.post("/v1/notify/templates", json=body)
        _expect(answer, 201, f"POST template {channel}")
        templates[channel] = str(answer.json()["template_id"])
    return templates


async def set_policy(client: httpx.AsyncClient, cap: dict[str, Any], quiet: tuple[str, str] | None) -> None:
    """The tenant's policy: the cap, and quiet hours (start, end) in the customers' zone (UTC)."""
    policy: dict[str, Any] = {"frequency_caps": [cap], "quiet_hours": None}
    if quiet is not None:
        policy["quiet_hours"] = {"start": quiet[0], "end": quiet[1]}
    _expect(await client.put("/v1/notify/policy", json=policy), 200, "PUT policy")


def _expect(answer: httpx.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise BenchError(f"{what} answered {answer.status_code}: {answer.text[:300]}")


async def seed(
    client: httpx.AsyncClient, plan: Sequence[tuple[str, ...]], concurrency: int
) -> tuple[list[str], float]:
    """Customer ``i`` (identify: a CN mobile, an app user id, an e-mail, nickname, zone UTC), then a
    granted marketing consent on each of ``plan[i]``'s channels, one PUT each (there is no batch
    consent API), ``concurrency`` customers at once. Answers the ids and the seconds it took."""
    ids = [""] * len(plan)
    counter = itertools.count()
    started = time.perf_counter()

    async def one_by_one() -> None:
        while (i := next(counter)) < len(plan):
            identities = [
                {"type": "phone", "value": f"+86139{i:08d}"},
                {"type": "app_user_id", "value": f"nb-{i}"},
                {"type": "email", "value": f"u{i}@bench.example"},
            ]
            body = {"identities": identities, "attributes": {"nickname": f"N{i}", "timezone": "UTC"}}
            answer = await _retried(client, "POST", "/v1/customers/identify", body)
            _expect(answer, 200, "identify")
            ids[i] = customer_id = str(answer.json()["customer_id"])
            for channel in plan[i]:
                consent = {"channel": channel, "purpose": "marketing", "granted": True, "source": "bench"}
                answer = await _retried(client, "PUT", f"/v1/customers/{customer_id}/consents", consent)
                _expect(answer, 200, "PUT consent")
            if i and i % 10_000 == 0:
                log(f"seeded {i:,} customers ({i / (time.perf_counter() - started):,.0f}/s)")

    await asyncio.gather(*(one_by_one() for _ in range(concurrency)))
    return ids, time.perf_counter() - started


async def _retried(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """An idempotent set-up call, tried again after a dropped connection or a 503/504 (5 tries)."""
    for attempt in range(5):
        try:
            answer = await client.request(method, path, json=body)
        except httpx.TransportError:
            if attempt == 4:
                raise
        else:
            if answer.status_code not in (503, 504) or attempt == 4:
                return answer
        await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


def notify_database_url(home: Path) -> str:
    """``patron up``'s embedded PostgreSQL (its socket directory from ``postmaster.pid``), database
    ``patron_notify``."""
    try:
        lines = (home / "pgdata" / "postmaster.pid").read_text().splitlines()
    except OSError as error:
        raise BenchError(f"no embedded PostgreSQL under {home}: pass --notify-database-url") from error
    return f"postgresql://postgres@/patron_notify?host={lines[4].strip()}&port={lines[3].strip()}"


class NotifyReader:
    """Read-only queries on notify's database (a READ ONLY session: the bench changes nothing)."""

    def __init__(self, connection: asyncpg.Connection, tenant_id: str) -> None:
        self._connection = connection
        self._tenant = uuid.UUID(tenant_id)

    @classmethod
    async def open(cls, url: str, tenant_id: str) -> NotifyReader:
        connection = await asyncpg.connect(url, server_settings={"default_transaction_read_only": "on"})
        return cls(connection, tenant_id)

    async def close(self) -> None:
        await self._connection.close()

    async def granted_consents(self) -> int:
        """Granted consents notify's consumer of ``consent.changed`` has applied for the tenant."""
        query = "SELECT count(*) FROM consents WHERE tenant_id = $1 AND granted"
        return int(await self._connection.fetchval(query, self._tenant))

    async def pending(self) -> int:
        """Messages not yet finished (queued, deferred, or claimed and in flight)."""
        query = "SELECT count(*) FROM messages WHERE tenant_id = $1 AND status IN ('queued', 'deferred')"
        return int(await self._connection.fetchval(query, self._tenant))

    async def messages(self) -> list[asyncpg.Record]:
        """Every message of the tenant: id, customer, channel, status, reason, attempts and times."""
        query = (
            "SELECT message_id, customer_id, channel, status, reason, attempts, "
            "extract(epoch FROM created_at)::float8 AS created, extract(epoch FROM sent_at)::float8 AS sent "
            "FROM messages WHERE tenant_id = $1"
        )
        return list(await self._connection.fetch(query, self._tenant))


class Sampler:
    """Every second: seconds since start, messages committed (answers so far), messages the peers
    received; runs until ``stop()``."""

    def __init__(
        self, peers: Peers, client: httpx.AsyncClient, committed: Callable[[], int] | None = None
    ) -> None:
        self.peers, self.client, self.committed = peers, client, committed
        self.samples: list[list[float]] = []
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        started = time.perf_counter()
        while True:
            self.received = sum(s["received"] for s in (await self.peers.stats(self.client)).values())
            committed = self.committed() if self.committed else 0
            self.samples.append([round(time.perf_counter() - started, 1), committed, self.received])
            await asyncio.sleep(1.0)


async def drained(reader: NotifyReader, timeout_s: float) -> bool:
    """Wait until no message of the tenant is queued or due (deferred ones count once due)."""
    deadline = time.perf_counter() + timeout_s
    while await reader.pending() > 0:
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(1.0)
    return True
