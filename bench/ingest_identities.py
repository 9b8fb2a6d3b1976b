"""Behaviour events named by identities instead of customer ids: events/s through the gateway.

A storefront that has not identified a visitor yet sends events with identities (an app user id, a
device id). Each distinct identity set of a call must become a customer: new sets are created,
known ones found. Runs against a system already started (``patron up``) and prints one JSON report.

The workload (fixed): a fresh tenant; one caller posts ``--calls`` calls of 500 events, each event
with an identity set of its own (``app_user_id``) never seen before (500 new customers a call);
then the same calls again, so every set is known. Reported per phase: events/s, calls and the
latency of each call.

    PATRON_HOME=<home> .venv/bin/python -m bench.ingest_identities --output bench-results/ii.json
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    DEFAULT_URL,
    create_tenant,
    emit_report,
    latency_summary,
    load_admin_token,
    log,
    machine_info,
    positive_int,
)

EVENTS_PER_CALL = 500


def _calls(client: httpx.Client, headers: dict[str, str], calls: int, run: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    latencies: list[float] = []
    accepted = 0
    began = time.perf_counter()
    for call in range(calls):
        events = [
            {
                "event_id": str(uuid.uuid4()),
                "type": "view",
                "occurred_at": now,
                "identities": [{"type": "app_user_id", "value": f"{run}-{call}-{i}"}],
            }
            for i in range(EVENTS_PER_CALL)
        ]
        sent = time.perf_counter()
        response = client.post("/v1/events", json={"events": events}, headers=headers)
        latencies.append((time.perf_counter() - sent) * 1000)
        response.raise_for_status()
        accepted += int(response.json()["accepted"])
    seconds = time.perf_counter() - began
    return {
        "calls": calls,
        "events_accepted": accepted,
        "seconds": round(seconds, 3),
        "events_per_s": round(accepted / seconds, 1),
        "call_latency_ms": latency_summary(latencies),
    }


def main(arguments: argparse.Namespace) -> dict[str, Any]:
    """Both phases on a fresh tenant."""
    tenant_id, api_key = create_tenant(arguments.url, load_admin_token(arguments.admin_token))
    headers = {"Authorization": f"Bearer {api_key}"}
    run = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=arguments.url, timeout=120) as client:
        log(f"tenant {tenant_id}: {arguments.calls} calls of {EVENTS_PER_CALL} events with new identities")
        new = _calls(client, headers, arguments.calls, run)
        log(f"new identities: {new['events_per_s']} events/s; the same identities again")
        known = _calls(client, headers, arguments.calls, run)
        log(f"known identities: {known['events_per_s']} events/s")
    return {
        "benchmark": "ingest_identities",
        "url": arguments.url,
        "events_per_call": EVENTS_PER_CALL,
        "new_identities": new,
        "known_identities": known,
        "machine": machine_info(),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--admin-token")
    parser.add_argument("--calls", type=positive_int, default=10, help="calls per phase (10)")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    emit_report(main(options), options.output)
