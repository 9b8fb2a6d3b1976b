"""The audit log as the gateway writes it: no audit, no action.

An audited route takes ``audit: Audit`` (a dependency: the calling key or operator, the client's
address) and wraps what acts::

    async with audit.action("customer.erase", target=customer_id) as entry:
        response = await profile.customers.EraseCustomer(request)
        entry.note(erased_at=...)          # optional: what the outcome entry records

or, when one awaited call is the whole action, in one line::

    operator = await audit.call("operator.create", stub.CreateOperator(request), role=body.role,
                                result_target=lambda created: created.operator_id)

Before the block runs, a *requested* entry (actor, action, target, detail, address, a fresh request
id) is written to the profile service's log; when that fails the block never runs and the answer is
503 ``AUDIT_UNAVAILABLE`` (an unknown tenant is 404, as the action itself would answer). After the
block, an *outcome* entry with the same request id says ``succeeded`` (with the route's status) or
``failed`` (with the status of the error raised, which is then raised on). An outcome that cannot be
written is logged and does not change the answer: the reader shows the action's outcome ``unknown``.

Detail holds ids, amounts, scopes and times, never contacts, names, free text or secrets (the log
outlives erasure: docs/security.md "Audit log"). A target is a UUID; a malformed one (which the
action answers 404 for anyway) is recorded as no target, so client text never reaches the log.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, TypeVar

import grpc
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from gateway.bound_stubs import BoundStub
from gateway.clients import ServiceClients
from gateway.dependencies import Clients, Tenant
from gateway.problems import ServiceCallError, http_status
from patron.profile.v1 import audit_pb2, audit_pb2_grpc
from services.profile.domain.audit import (
    ADMIN_ACTOR,
    FAILED,
    MAX_ADDRESS_LENGTH,
    MAX_DETAIL_BYTES,
    OUTCOME,
    REQUESTED,
    SUCCEEDED,
)

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
Target = str | uuid.UUID | None


class AuditUnavailable(HTTPException):
    """503: the requested entry could not be written, so the action was not performed."""

    def __init__(self) -> None:
        super().__init__(
            503, "the audit log could not record this action, so it was not performed; retry later"
        )
        self.extensions = {"reason": "AUDIT_UNAVAILABLE"}


def audit_target(value: Target) -> str:
    """A target as the log keeps it: a UUID's canonical text, or "" (none, or not a UUID)."""
    if value is None or value == "":
        return ""
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))
    except ValueError:
        return ""


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"an audit detail cannot hold {type(value).__name__}")


def detail_json(values: dict[str, object]) -> str:
    """The detail as JSON: None values left out; times and UUIDs as text. A detail over the log's
    limit (4 KiB) is replaced by its size and names, so that a long list never costs an entry."""
    present = {name: value for name, value in values.items() if value is not None}
    text = json.dumps(present, default=_json_value, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) <= MAX_DETAIL_BYTES:
        return text
    return json.dumps(
        {"oversized_bytes": len(text.encode()), "fields": sorted(present)}, separators=(",", ":")
    )


def failure_status(error: Exception) -> int:
    """The HTTP status the gateway answers for ``error`` (as gateway.problems maps it)."""
    if isinstance(error, HTTPException):
        return error.status_code
    if isinstance(error, ServiceCallError):
        return http_status(error.error.code())
    if isinstance(error, (RequestValidationError, UnicodeEncodeError)):
        return 422
    return 500


@dataclass(slots=True)
class AuditEntry:
    """What the block of :meth:`Auditor.action` may add to its outcome entry."""

    request_id: uuid.UUID
    target: Target = None
    status: int | None = None
    result: dict[str, object] = field(default_factory=dict)

    def note(self, **values: object) -> None:
        """Ids, amounts or times to record with the outcome (never personal data or secrets)."""
        self.result.update(values)


@dataclass(frozen=True, slots=True)
class Auditor:
    """Writes one caller's audited actions to its tenant's log (see the module docstring)."""

    clients: ServiceClients
    tenant_id: str
    actor: str
    client_address: str
    success_status: int = 200

    def _log(self) -> BoundStub:
        return BoundStub(self.clients, audit_pb2_grpc.AuditServiceStub, self.tenant_id)

    async def _requested(self, request_id: uuid.UUID, action: str, target: Target, detail: str) -> None:
        record = audit_pb2.RecordAuditRequest(
            request_id=str(request_id),
            phase=REQUESTED,
            actor=self.actor,
            action=action,
            client_address=self.client_address,
            target=audit_target(target),
            detail_json=detail,
        )
        try:
            await self._log().Record(record)
        except ServiceCallError as error:
            if error.error.code() == grpc.StatusCode.NOT_FOUND:
                raise  # the tenant does not exist: 404, as the action would answer
            logger.warning("audit: %s not recorded, so refused: %s", action, error)
            raise AuditUnavailable() from None

    async def _outcome(self, entry: AuditEntry, action: str, outcome: str, status: int) -> None:
        try:
            result = detail_json(entry.result)
        except (TypeError, ValueError):
            # A note that is no JSON value is a bug of the route; the action has happened, so its
            # answer stands and the outcome is recorded without the notes.
            logger.exception("audit: the notes of %s cannot be recorded", action)
            result = "{}"
        record = audit_pb2.RecordAuditRequest(
            request_id=str(entry.request_id),
            phase=OUTCOME,
            target=audit_target(entry.target),
            detail_json=result,
            outcome=outcome,
            status=status,
        )
        try:
            await self._log().Record(record)
        except ServiceCallError as error:
            logger.error(
                "audit: the outcome of %s (request %s) was not recorded: %s", action, entry.request_id, error
            )

    @asynccontextmanager
    async def action(
        self, action: str, *, target: Target = None, **detail: object
    ) -> AsyncIterator[AuditEntry]:
        """Record ``action`` on ``target`` before the block runs (or refuse it: 503), then its outcome.

        ``detail`` (ids, amounts, scopes) is what was asked; ``entry.note(...)`` adds to the outcome,
        and ``entry.target`` names a target known only afterwards (the id of what was created)."""
        entry = AuditEntry(request_id=uuid.uuid4())
        await self._requested(entry.request_id, action, target, detail_json(detail))
        try:
            yield entry
        except Exception as error:
            await self._outcome(entry, action, FAILED, failure_status(error))
            raise
        await self._outcome(entry, action, SUCCEEDED, entry.status or self.success_status)

    async def call(
        self,
        action: str,
        work: Awaitable[Result],
        *,
        target: Target = None,
        result_target: Callable[[Result], Target] | None = None,
        **detail: object,
    ) -> Result:
        """Await ``work`` as the audited ``action`` (one line for a route whose action is one call);
        ``result_target`` names the target from the result (the id of what was created)."""
        try:
            async with self.action(action, target=target, **detail) as entry:
                result = await work
                if result_target is not None:
                    entry.target = result_target(result)
                return result
        finally:
            if inspect.iscoroutine(work):
                work.close()  # not awaited when the audit refused it: no "never awaited" warning


def client_address(request: Request) -> str:
    """The connection's peer (behind a proxy, uvicorn's --proxy-headers sets it), or "" when there is
    none or it is not an address the log can hold (printable ASCII, at most 64 characters): an odd
    peer must never make the log refuse every audited action."""
    host = request.client.host if request.client else ""
    return (
        host
        if len(host) <= MAX_ADDRESS_LENGTH and host.isascii() and host.isprintable() and " " not in host
        else ""
    )


def route_status(request: Request) -> int:
    """The status the route answers on success (its decorator's ``status_code``, else 200)."""
    return getattr(request.scope.get("route"), "status_code", None) or 200


async def request_auditor(request: Request, tenant: Tenant, clients: Clients) -> Auditor:
    """FastAPI dependency: the auditor of the calling key or operator (``TenantContext.actor``)."""
    return Auditor(clients, tenant.tenant_id, tenant.actor, client_address(request), route_status(request))


def admin_auditor(request: Request, tenant_id: str) -> Auditor:
    """The auditor of an admin-token call acting on ``tenant_id`` (the actor is ``admin``)."""
    clients: ServiceClients = request.app.state.clients
    return Auditor(clients, tenant_id, ADMIN_ACTOR, client_address(request), route_status(request))


Audit = Annotated[Auditor, Depends(request_auditor)]
"""An audited route's parameter: ``audit: Audit``."""
