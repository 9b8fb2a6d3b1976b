"""gRPC servicer of ``patron.profile.v1.AuditService``: convert, delegate to the domain, convert back."""

from __future__ import annotations

import json

from grpc import aio

from patron.profile.v1 import audit_pb2, audit_pb2_grpc
from services.profile.domain.audit import AuditedAction, AuditLog, build_query, validate_entry
from services.profile.store.audit import SqlAuditStore
from services.runtime.database import Database
from services.runtime.proto_convert import optional_time, set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

AUDIT_SERVICE = "patron.profile.v1.AuditService"


def _json(value: dict[str, object]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def action_to_proto(action: AuditedAction) -> audit_pb2.AuditedAction:
    message = audit_pb2.AuditedAction(
        entry_id=str(action.entry_id),
        request_id=str(action.request_id),
        occurred_at=to_timestamp(action.occurred_at),
        actor=action.actor,
        action=action.action,
        target=action.target,
        detail_json=_json(action.detail),
        client_address=action.client_address,
        outcome=action.outcome,
        status=action.status or 0,
        result_json=_json(action.result),
    )
    set_time(message, "finished_at", action.finished_at)
    return message


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def Record(
        self, request: audit_pb2.RecordAuditRequest, context: aio.ServicerContext
    ) -> audit_pb2.RecordAuditResponse:
        entry = validate_entry(
            request.request_id,
            request.phase,
            request.actor,
            request.action,
            request.target,
            request.detail_json,
            request.client_address,
            request.outcome,
            request.status,
        )
        recorded = await self._log.record(current_tenant(), entry)
        return audit_pb2.RecordAuditResponse(
            entry_id=str(recorded.entry_id), occurred_at=to_timestamp(recorded.occurred_at)
        )

    async def List(
        self, request: audit_pb2.ListAuditRequest, context: aio.ServicerContext
    ) -> audit_pb2.ListAuditResponse:
        query = build_query(
            request.limit,
            request.cursor,
            request.action,
            request.actor,
            request.target,
            optional_time(request, "occurred_from", "from"),
            optional_time(request, "occurred_to", "to"),
        )
        page = await self._log.page(current_tenant(), query)
        return audit_pb2.ListAuditResponse(
            items=[action_to_proto(item) for item in page.items], next_cursor=page.next_cursor or ""
        )


def audit_registration(database: Database) -> Registration:
    return Registration(
        audit_pb2_grpc.add_AuditServiceServicer_to_server,
        AuditServicer(AuditLog(SqlAuditStore(database))),
        AUDIT_SERVICE,
    )
