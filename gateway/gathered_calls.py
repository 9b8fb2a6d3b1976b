"""The calls the gateway gathers (gateway.gathering): identify, and small batches of events.

Both are what a storefront sends per shopper action. Each is answered exactly as if sent alone:

- **identify**: gathered calls go to the profile service's ``IdentifyMany``; a call it leaves
  unsettled (a fault in its input, a refusal by the rules) is sent again alone with ``Identify``, so
  its error answer is the one it always was. A batch of one is sent with ``Identify``.
- **events**: the events of gathered calls (each of at most ``GATHERED_EVENTS_PER_CALL``) go in one
  ``RecordEvents`` (at most the service's 1,000); the service's answer is cut back into each call's
  share, renumbered from that call's first event.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.clients import ServiceClients
from gateway.gathering import Gatherer
from patron.profile.v1 import behaviour_pb2, behaviour_pb2_grpc, profile_pb2, profile_pb2_grpc
from services.profile.domain.behaviour_rules import MAX_EVENTS_PER_CALL
from services.profile.domain.identify_many import MAX_CALLS_PER_BATCH

# A batch of events may name up to 1,000 unknown customers by identities, each created on the way:
# it gets more time than the configured deadline of ordinary calls.
RECORD_DEADLINE_SECONDS = 10.0
# Calls with more events than this are batches already: they are sent alone.
GATHERED_EVENTS_PER_CALL = 100
# The serialized size of one gathered service call, well under the services' 8 MiB receive limit.
MAX_GATHERED_BYTES = 4 * 1024 * 1024

EventPart = list[behaviour_pb2.BehaviourEvent]


def share_of(
    response: behaviour_pb2.RecordEventsResponse, start: int, count: int
) -> behaviour_pb2.RecordEventsResponse:
    """The answer to the ``count`` events sent from position ``start`` of a gathered call, as the
    service would have given it to those events alone (positions and field paths from 0)."""
    outcomes = list(response.outcomes[start : start + count])
    share = behaviour_pb2.RecordEventsResponse(
        accepted=outcomes.count(behaviour_pb2.EVENT_OUTCOME_ACCEPTED),
        duplicates=outcomes.count(behaviour_pb2.EVENT_OUTCOME_DUPLICATE),
        outcomes=outcomes,
    )
    for rejected in response.rejected:
        if start <= rejected.index < start + count:
            index = rejected.index - start
            sent, own = f"events[{rejected.index}]", f"events[{index}]"
            share.rejected.add(
                index=index,
                errors=[
                    behaviour_pb2.FieldError(
                        field=own + e.field[len(sent) :] if e.field.startswith(sent) else e.field,
                        message=e.message,
                    )
                    for e in rejected.errors
                ],
            )
    return share


class GatheredCalls:
    """The gatherers of one gateway process, shared by every request (``app.state.gathered``)."""

    def __init__(self, clients: ServiceClients, max_in_flight: int) -> None:
        self._clients = clients
        self._identify_stub = clients.stub(profile_pb2_grpc.CustomerServiceStub)
        self._events_stub = clients.stub(behaviour_pb2_grpc.BehaviourServiceStub)
        self._identify: Gatherer[profile_pb2.IdentifyRequest, profile_pb2.IdentifyResponse | None] = Gatherer(
            self._send_identify,
            max_in_flight=max_in_flight,
            max_parts=MAX_CALLS_PER_BATCH,
            max_weight=MAX_GATHERED_BYTES,
            weigh=lambda request: request.ByteSize(),
        )
        self._events: Gatherer[EventPart, behaviour_pb2.RecordEventsResponse] = Gatherer(
            self._send_events,
            max_in_flight=max_in_flight,
            max_parts=MAX_EVENTS_PER_CALL // GATHERED_EVENTS_PER_CALL,
            max_weight=MAX_GATHERED_BYTES,
            weigh=lambda events: sum(e.ByteSize() for e in events),
        )

    async def identify(
        self, tenant_id: str, request: profile_pb2.IdentifyRequest
    ) -> profile_pb2.IdentifyResponse:
        """The service's answer to ``request``: gathered with the tenant's concurrent calls when the
        service is busy, sent alone when the batch left it unsettled (its answer is then exact)."""
        answer = await self._identify.submit(tenant_id, request)
        if answer is None:
            answer = await self._send_identify_alone(tenant_id, request)
        return answer

    async def record_events(self, tenant_id: str, events: EventPart) -> behaviour_pb2.RecordEventsResponse:
        """The service's answer to ``events``, gathered with other small calls when it is small."""
        if len(events) > GATHERED_EVENTS_PER_CALL:
            return (await self._send_events(tenant_id, [events]))[0]
        return await self._events.submit(tenant_id, events)

    async def _send_identify(
        self, tenant_id: str, calls: list[profile_pb2.IdentifyRequest]
    ) -> list[profile_pb2.IdentifyResponse | None]:
        if len(calls) == 1:
            return [await self._send_identify_alone(tenant_id, calls[0])]
        request = profile_pb2.IdentifyManyRequest(calls=calls)
        response = await self._clients.call(
            "profile", self._identify_stub.IdentifyMany, request, tenant_id=tenant_id
        )
        return [o.result if o.WhichOneof("outcome") == "result" else None for o in response.outcomes]

    async def _send_identify_alone(
        self, tenant_id: str, request: profile_pb2.IdentifyRequest
    ) -> profile_pb2.IdentifyResponse:
        response: profile_pb2.IdentifyResponse = await self._clients.call(
            "profile", self._identify_stub.Identify, request, tenant_id=tenant_id
        )
        return response

    async def _send_events(
        self, tenant_id: str, parts: list[EventPart]
    ) -> Sequence[behaviour_pb2.RecordEventsResponse]:
        request = behaviour_pb2.RecordEventsRequest(events=[e for part in parts for e in part])
        response = await self._clients.call(
            "profile",
            self._events_stub.RecordEvents,
            request,
            tenant_id=tenant_id,
            deadline_seconds=RECORD_DEADLINE_SECONDS,
        )
        if len(parts) == 1:
            return [response]
        shares: list[behaviour_pb2.RecordEventsResponse] = []
        start = 0
        for part in parts:
            shares.append(share_of(response, start, len(part)))
            start += len(part)
        return shares
