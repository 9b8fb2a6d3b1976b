"""The behaviour servicer: proto ⇄ domain for recording and listing behaviour events. No rules here."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import behaviour_pb2, behaviour_pb2_grpc
from services.profile.domain.batch_identities import BatchIdentityResolver
from services.profile.domain.behaviour import BehaviourLog, Outcome, RecordResult, StoredBehaviourEvent
from services.profile.domain.behaviour_rules import EventInput
from services.profile.domain.directory import TenantRegistry
from services.profile.store.batch_identities import SqlBatchIdentityStore
from services.profile.store.behaviour import SqlBehaviourStore
from services.profile.store.customers import SqlCustomerStore
from services.profile.store.pii import PiiCipher
from services.profile.transport.convert import identities_from_proto
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import optional_text, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

BEHAVIOUR_SERVICE = "patron.profile.v1.BehaviourService"

_OUTCOMES = {
    Outcome.ACCEPTED: behaviour_pb2.EVENT_OUTCOME_ACCEPTED,
    Outcome.DUPLICATE: behaviour_pb2.EVENT_OUTCOME_DUPLICATE,
    Outcome.REJECTED: behaviour_pb2.EVENT_OUTCOME_REJECTED,
}


def event_from_proto(message: behaviour_pb2.BehaviourEvent) -> EventInput:
    return EventInput(
        event_id=message.event_id,
        type=message.type,
        occurred_at=message.occurred_at,
        customer_id=message.customer_id,
        identities=tuple(identities_from_proto(message.identities)),
        properties_json=optional_text(message, "properties_json"),
    )


def result_to_proto(result: RecordResult) -> behaviour_pb2.RecordEventsResponse:
    return behaviour_pb2.RecordEventsResponse(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[
            behaviour_pb2.RejectedEvent(
                index=r.index,
                errors=[behaviour_pb2.FieldError(field=v.field, message=v.message) for v in r.violations],
            )
            for r in result.rejected
        ],
        outcomes=[_OUTCOMES[o] for o in result.outcomes],
    )


def stored_to_proto(event: StoredBehaviourEvent) -> behaviour_pb2.StoredEvent:
    return behaviour_pb2.StoredEvent(
        event_id=event.event_id,
        type=event.type,
        occurred_at=to_timestamp(event.occurred_at),
        received_at=to_timestamp(event.received_at),
        customer_id=str(event.customer_id),
        properties_json=event.properties_json,
    )


class BehaviourServicer(behaviour_pb2_grpc.BehaviourServiceServicer):
    def __init__(self, log: BehaviourLog) -> None:
        self._log = log

    async def RecordEvents(
        self, request: behaviour_pb2.RecordEventsRequest, context: aio.ServicerContext
    ) -> behaviour_pb2.RecordEventsResponse:
        result = await self._log.record(current_tenant(), [event_from_proto(e) for e in request.events])
        return result_to_proto(result)

    async def ListCustomerEvents(
        self, request: behaviour_pb2.ListCustomerEventsRequest, context: aio.ServicerContext
    ) -> behaviour_pb2.ListCustomerEventsResponse:
        page = await self._log.list_for_customer(
            current_tenant(), request.customer_id, request.type, request.limit, request.cursor
        )
        return behaviour_pb2.ListCustomerEventsResponse(
            items=[stored_to_proto(e) for e in page.items],
            next_cursor=page.next_cursor or "",
            customer_id=str(page.customer_id),
        )


def behaviour_registration(
    database: Database, cipher: PiiCipher, outbox: Outbox, tenants: TenantRegistry
) -> Registration:
    """The BehaviourService, assembled: a batch's identity sets are resolved together by the batched
    resolver, which falls back to the customers' identify path where a set needs its rules."""
    resolver = BatchIdentityResolver(
        SqlBatchIdentityStore(database, cipher, outbox), SqlCustomerStore(database, cipher, outbox)
    )
    log = BehaviourLog(SqlBehaviourStore(database, outbox), resolver, tenants)
    return Registration(
        behaviour_pb2_grpc.add_BehaviourServiceServicer_to_server, BehaviourServicer(log), BEHAVIOUR_SERVICE
    )
