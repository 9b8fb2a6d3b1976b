"""`patron status` against the real services in process: health, producer heads, consumer lag, exit code."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable

import pytest

from services.runtime import cli
from services.runtime.server import ServiceServer
from services.runtime.status_report import (
    ConsumerStatus,
    StatusReport,
    collect,
    render_json,
    render_text,
    report_status,
    resolve_addresses,
)
from tests.support import free_port


def _addresses(services: dict[str, ServiceServer]) -> dict[str, str]:
    return {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}


def _consumer(report: StatusReport, name: str) -> ConsumerStatus | None:
    return next((c for c in report.consumers if c.consumer == name), None)


async def _report_until(
    addresses: dict[str, str], ready: Callable[[StatusReport], bool], limit_seconds: float = 15.0
) -> StatusReport:
    """Collect until the report is ``ready``, or the last report after ``limit_seconds``.

    The services share this test's event loop with the whole suite: a report read while they catch
    up on other tests' work may meet a deadline, so tests read until what they wait for is there."""
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while True:
        report = await collect(addresses)
        if ready(report) or asyncio.get_running_loop().time() > deadline:
            return report
        await asyncio.sleep(0.1)


async def _report_with(addresses: dict[str, str], consumer: str) -> StatusReport:
    """Collect until ``consumer`` has its partition rows (a consumer creates them once it starts)."""

    def has_partitions(report: StatusReport) -> bool:
        found = _consumer(report, consumer)
        return found is not None and bool(found.partitions)

    report = await _report_until(addresses, has_partitions)
    assert has_partitions(report), f"{consumer} never reported its partitions: {report}"
    return report


async def test_all_services_serving_and_the_scoring_consumer_reports(
    services: dict[str, ServiceServer],
) -> None:
    report = await _report_with(_addresses(services), "scoring.customers")

    assert {s.name: s.health for s in report.services} == dict.fromkeys(services, "SERVING")
    assert all(not s.problems for s in report.services)
    consumer = _consumer(report, "scoring.customers")
    assert consumer is not None
    assert consumer.service == "scoring"
    assert consumer.producer == "profile"
    assert len(consumer.partitions) == 16
    assert consumer.behind_retention == ()
    assert [d.work for d in consumer.deferred] == ["re-scoring"]  # its backlog of customers to re-score
    assert report.exit_code == 0


async def test_the_producers_report_their_heads(services: dict[str, ServiceServer]) -> None:
    report = await _report_until(
        _addresses(services), lambda report: all(s.producer is not None for s in report.services)
    )

    producers = {s.name: s.producer for s in report.services if s.producer is not None}
    problems = {s.name: s.problems for s in report.services}
    assert set(producers) == {"profile", "scoring", "loyalty", "notify"}, problems  # notify: message.*
    for producer in producers.values():
        assert producer.partition_count == 16
        assert producer.pruned_through <= producer.total_head


async def test_renderings(services: dict[str, ServiceServer]) -> None:
    report = await _report_with(_addresses(services), "scoring.customers")

    parsed = json.loads(render_json(report))
    assert parsed["ok"] is True
    assert [s["health"] for s in parsed["services"]] == ["SERVING"] * 4
    (consumer,) = (c for c in parsed["consumers"] if c["consumer"] == "scoring.customers")
    assert (consumer["producer"], consumer["partitions_total"]) == ("profile", 16)
    assert len(consumer["partitions"]) == 16
    assert [d["work"] for d in consumer["deferred"]] == ["re-scoring"]

    text = render_text(report)
    for name in services:
        assert name in text
    assert "scoring.customers" in text
    assert text.endswith("status: OK")


async def test_a_service_nobody_listens_for_makes_the_exit_code_1(
    services: dict[str, ServiceServer],
) -> None:
    addresses = {**_addresses(services), "notify": f"127.0.0.1:{free_port()}"}

    report = await collect(addresses)

    health = {s.name: s.health for s in report.services}
    assert health["notify"] == "UNAVAILABLE"
    assert all(health[name] == "SERVING" for name in ("profile", "scoring", "loyalty"))
    assert report.exit_code == 1
    out = io.StringIO()
    assert await report_status(addresses, as_json=True, out=out) == 1
    assert json.loads(out.getvalue())["ok"] is False


def test_addresses_come_from_options_then_gateway_environment_then_defaults() -> None:
    environ = {"PATRON_GATEWAY_SCORING_ADDRESS": "10.0.0.2:6000", "PATRON_GATEWAY_LOYALTY_ADDRESS": "x:1"}

    addresses = resolve_addresses({"profile": "10.0.0.1:5000", "loyalty": "y:2", "notify": None}, environ)

    assert addresses == {
        "profile": "10.0.0.1:5000",
        "scoring": "10.0.0.2:6000",
        "loyalty": "y:2",
        "notify": "127.0.0.1:50054",
    }


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as unknown_option:
        cli.main(["status", "--bogus"])
    assert unknown_option.value.code == 2
    assert cli.main(["status", "--profile-address", ""]) == 2


def test_the_grpc_port_variables_of_patron_up_are_understood() -> None:
    environ = {
        "PATRON_SCORING_GRPC_PORT": "25052",
        "PATRON_GATEWAY_NOTIFY_ADDRESS": "n:1",
        "PATRON_NOTIFY_GRPC_PORT": "9",
    }
    addresses = resolve_addresses(
        {"profile": None, "scoring": None, "loyalty": None, "notify": None}, environ
    )
    assert addresses["scoring"] == "127.0.0.1:25052"
    assert addresses["notify"] == "n:1"
    assert addresses["loyalty"] == "127.0.0.1:50053"
