"""What every benchmark shares: the admin token, a tenant of its own, percentiles and the JSON report.

Benchmarks run against a system already started with ``patron up``; each creates a fresh tenant so
that runs never see each other's data.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import sys
from collections.abc import Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

Result = TypeVar("Result")

DEFAULT_URL = "http://127.0.0.1:8080"


class BenchError(Exception):
    """A benchmark cannot run (system not up, no admin token, tenant refused); the message says why."""


def log(message: str) -> None:
    """Progress for the person at the terminal (stderr, so stdout stays one JSON object)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def fast_httpcore() -> None:
    """Spare httpcore a failing ``import sniffio`` on every request when sniffio is not installed.

    anyio >= 4.11 no longer installs sniffio, and httpcore 1.0.x imports it lazily inside
    ``current_async_library()``; a failed import is not cached, so each call searches ``sys.path``
    again (about a fifth of the load generator's CPU; encode/httpcore discussion #1102, PR #1103).
    Marking the module absent makes the import fail at once, and httpcore then assumes asyncio,
    which is what it would have found anyway.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def load_admin_token(explicit: str | None = None) -> str:
    """The admin token: ``explicit``, else ``$PATRON_ADMIN_TOKEN``, else ``<PATRON_HOME>/admin_token``.

    ``PATRON_HOME`` defaults to ``.patron``, as for ``patron up``. Raises BenchError when none is found.
    """
    if explicit:
        return explicit
    if token := os.environ.get("PATRON_ADMIN_TOKEN", "").strip():
        return token
    path = Path(os.environ.get("PATRON_HOME", ".patron")) / "admin_token"
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    if not token:
        raise BenchError(f"no admin token: pass --admin-token, set PATRON_ADMIN_TOKEN, or create {path}")
    return token


def create_tenant(
    url: str, admin_token: str, prefix: str = "bench", timeout: float = 10.0
) -> tuple[str, str]:
    """Create a tenant named ``<prefix>-<UTC timestamp>``; returns ``(tenant_id, api_key)``."""
    name = f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            ready = client.get("/readyz")
            if ready.status_code != 200:
                raise BenchError(f"{url}/readyz answered {ready.status_code}: {ready.text[:300]}")
            response = client.post(
                "/v1/admin/tenants",
                json={"name": name},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
    except httpx.HTTPError as error:
        raise BenchError(f"cannot reach {url} ({error!r}); start the system with `patron up`") from error
    if response.status_code != 201:
        raise BenchError(f"creating tenant {name} answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    return str(body["tenant_id"]), str(body["api_key"])


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max (ms, 3 decimals) of the full sample list; all None when it is empty."""
    if not samples_ms:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    if len(samples_ms) == 1:
        only = round(samples_ms[0], 3)
        return {"p50": only, "p90": only, "p99": only, "max": only}
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "p50": round(cuts[49], 3),
        "p90": round(cuts[89], 3),
        "p99": round(cuts[98], 3),
        "max": round(max(samples_ms), 3),
    }


def machine_info() -> dict[str, Any]:
    """Where the figures were taken: CPU count and Python version."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }


RATE_LIMIT_HINT = (
    "calls were answered 429: one tenant went over the gateway's default rate (1,000 calls/s per tenant "
    "and per key). To measure past it, start the system with PATRON_GATEWAY_RATE_TENANT_PER_SECOND, "
    "PATRON_GATEWAY_RATE_KEY_PER_SECOND and their _BURST raised (bench/README.md)"
)


def _rate_limited(value: Any) -> bool:
    """Whether a report holds an ``errors`` count of 429 answers anywhere."""
    if isinstance(value, Mapping):
        errors = value.get("errors")
        if isinstance(errors, Mapping) and errors.get("429"):
            return True
        return any(_rate_limited(v) for v in value.values())
    if isinstance(value, list):
        return any(_rate_limited(v) for v in value)
    return False


def emit_report(report: Mapping[str, Any], output: Path | None = None) -> None:
    """Print ``report`` as one JSON object on stdout and, when ``output`` is given, write it there too;
    say on stderr when calls were refused by the rate limits rather than measured."""
    if _rate_limited(report):
        log(RATE_LIMIT_HINT)
    text = json.dumps(report, indent=2, sort_keys=False)
    print(text, flush=True)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (counts, sizes, concurrency)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number greater than 0 (rates, durations, timeouts)."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def run_on_uvloop(main: Coroutine[Any, Any, Result]) -> Result:
    """Run ``main`` on uvloop when installed (a cheaper load generator), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
