"""Live membership end to end: facts through the gateway, scoring's consumers and due worker, the
members and a customer's segments through the gateway, and ``segment.entered``/``exited`` read from
scoring's event stream like notify reads them; ``Evaluate`` and ``StreamMembers`` over gRPC.

The clock is the real one: a cart placed 24 hours minus a few seconds ago leaves its window a few
seconds into the test, and the due worker (every 0.5 s in the tests) takes it out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from patron.scoring.v1 import segments_pb2, segments_pb2_grpc
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.test_audience_projection import eventually
from tests.test_loyalty_api import new_customer
from tests.test_segment_preview_api import ABANDONED_CART, add_to_cart, counted, order

WOMEN = {"field": "attributes.gender", "op": "eq", "value": "female"}


async def create_segment(
    api: httpx.AsyncClient, tenant: TenantKey, name: str, condition: Any
) -> dict[str, Any]:
    response = await api.post(
        "/v1/segments", json={"name": name, "condition": condition}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def member_ids(api: httpx.AsyncClient, tenant: TenantKey, segment_id: str) -> set[str]:
    response = await api.get(f"/v1/segments/{segment_id}/members", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {item["customer_id"] for item in response.json()["items"]}


async def members_become(
    api: httpx.AsyncClient, tenant: TenantKey, segment_id: str, expected: set[str]
) -> set[str]:
    return await eventually(lambda: member_ids(api, tenant, segment_id), lambda seen: seen == expected)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (as ``eventually`` does) until ``condition()`` holds."""

    async def read() -> bool:
        return condition()

    await eventually(read, bool)


class SegmentEvents:
    """Scoring's stream of segment events from its heads at the start, for one tenant."""

    def __init__(self, address: str, tenant_id: str) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = envelope_pb2_grpc.EventStreamStub(self._channel)
        self._tenant = tenant_id
        self.seen: list[tuple[str, str, str, int, str]] = []  # (type, segment, customer, version, cause)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SegmentEvents:
        heads = await self._stub.GetHeads(envelope_pb2.GetHeadsRequest(), timeout=5)
        request = envelope_pb2.SubscribeRequest(
            consumer="test.segments",
            partitions=[
                envelope_pb2.PartitionPosition(partition=h.partition, after_position=h.head)
                for h in heads.partitions
            ],
            types=["segment.entered", "segment.exited"],
        )
        self._task = asyncio.create_task(self._read(request))
        return self

    async def _read(self, request: envelope_pb2.SubscribeRequest) -> None:
        async for response in self._stub.Subscribe(request, timeout=120):
            for event in response.events:
                if event.tenant_id != self._tenant:
                    continue
                payload = event.segment_entered if event.type == "segment.entered" else event.segment_exited
                self.seen.append(
                    (event.type, payload.segment_id, event.customer_id, payload.version, payload.cause)
                )

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._channel.close()

    def of(self, segment_id: str, customer: str) -> list[tuple[str, str]]:
        return [
            (kind, cause) for kind, seg, who, _, cause in self.seen if seg == segment_id and who == customer
        ]


@pytest.fixture
def scoring_address(services: dict[str, ServiceServer]) -> str:
    return f"127.0.0.1:{services['scoring'].bound_port}"


async def test_the_abandoned_cart_moves_with_events_and_with_time(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_address: str
) -> None:
    shopper = await new_customer(api, tenant)
    leaving = await new_customer(api, tenant)
    async with SegmentEvents(scoring_address, tenant.tenant_id) as events:
        cart = (await create_segment(api, tenant, "Abandoned cart", ABANDONED_CART))["segment_id"]
        await add_to_cart(api, tenant, shopper, datetime.now(UTC) - timedelta(minutes=5))
        # 24 hours minus 4 seconds ago: in the window now, out of it 4 seconds from now.
        await add_to_cart(
            api, tenant, leaving, datetime.now(UTC) - timedelta(hours=24) + timedelta(seconds=4)
        )
        assert await members_become(api, tenant, cart, {shopper, leaving}) == {shopper, leaving}

        listed = await api.get(f"/v1/customers/{shopper}/segments", headers=tenant.headers)
        assert [item["segment_id"] for item in listed.json()["items"]] == [cart]

        await order(api, tenant, shopper, datetime.now(UTC))
        assert await members_become(api, tenant, cart, {leaving}) == {leaving}
        assert await members_become(api, tenant, cart, set()) == set()  # the window closed
        await until(lambda: len(events.of(cart, leaving)) >= 2)
        assert events.of(cart, shopper) == [("segment.entered", "event"), ("segment.exited", "event")]
        assert events.of(cart, leaving) == [("segment.entered", "event"), ("segment.exited", "time")]
        await asyncio.sleep(1.5)  # nothing more comes: each change was announced once
        assert len([e for e in events.seen if e[1] == cart]) == 4


async def test_an_attribute_change_and_a_merge_move_members_once(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_address: str
) -> None:
    first = await new_customer(api, tenant, gender="female")
    second = await new_customer(api, tenant)
    await counted(api, tenant, WOMEN, 1)  # scoring knows both customers
    async with SegmentEvents(scoring_address, tenant.tenant_id) as events:
        women = (await create_segment(api, tenant, "Women", WOMEN))["segment_id"]
        assert await member_ids(api, tenant, women) == {first}

        response = await api.patch(
            f"/v1/customers/{second}", json={"attributes": {"gender": "female"}}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        assert await members_become(api, tenant, women, {first, second}) == {first, second}

        merged = await api.post(
            f"/v1/customers/{first}/merge", json={"other_customer_id": second}, headers=tenant.headers
        )
        assert merged.status_code == 200, merged.text
        assert await members_become(api, tenant, women, {first}) == {first}
        await until(lambda: ("segment.exited", "event") in events.of(women, second))
        assert events.of(women, second) == [("segment.entered", "event"), ("segment.exited", "event")]
        assert events.of(women, first) == [("segment.entered", "saved")]


async def test_evaluate_and_the_member_snapshot_over_grpc(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, scoring_address: str
) -> None:
    women = [await new_customer(api, tenant, gender="female") for _ in range(5)]
    man = await new_customer(api, tenant, gender="male")
    await counted(api, tenant, {"not": WOMEN}, 1)
    segment = (await create_segment(api, tenant, "Women", WOMEN))["segment_id"]
    assert await member_ids(api, tenant, segment) == set(women)
    metadata = (("x-patron-tenant", tenant.tenant_id),)
    async with grpc.aio.insecure_channel(scoring_address) as channel:
        stub = segments_pb2_grpc.SegmentServiceStub(channel)
        yes = await stub.Evaluate(
            segments_pb2.EvaluateSegmentRequest(customer_id=women[0], segment_id=segment),
            metadata=metadata,
            timeout=10,
        )
        assert (yes.member, yes.version, yes.customer_id) == (True, 1, women[0])
        no = await stub.Evaluate(
            segments_pb2.EvaluateSegmentRequest(customer_id=man, condition_json=json.dumps(WOMEN)),
            metadata=metadata,
            timeout=10,
        )
        assert (no.member, no.version) == (False, 0)

        batches = [
            b
            async for b in stub.StreamMembers(
                segments_pb2.StreamMembersRequest(segment_id=segment, batch_size=2),
                metadata=metadata,
                timeout=10,
            )
        ]
        assert [len(b.customer_ids) for b in batches] == [2, 2, 1]
        assert [c for b in batches for c in b.customer_ids] == sorted(women)
        assert {(b.version, b.total, b.as_of.ToDatetime()) for b in batches} == {
            (1, 5, batches[0].as_of.ToDatetime())
        }

        theirs = (("x-patron-tenant", other_tenant.tenant_id),)
        for call in (
            stub.Evaluate(
                segments_pb2.EvaluateSegmentRequest(customer_id=women[0], segment_id=segment),
                metadata=theirs,
                timeout=10,
            ),
            _drain(
                stub.StreamMembers(
                    segments_pb2.StreamMembersRequest(segment_id=segment), metadata=theirs, timeout=10
                )
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.Evaluate(
                segments_pb2.EvaluateSegmentRequest(
                    customer_id=man, condition_json='{"field": "x", "op": "eq"}'
                ),
                metadata=metadata,
                timeout=10,
            )
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def _drain(call: Any) -> None:
    async for _ in call:
        pass
