"""The ``Idempotency-Key`` header (docs/product.md): the same key and request answer the same again.

For a POST under /v1 that carries the header, the gateway claims the key in the profile service
(per tenant, 24 hours) before running the request and stores the answer after; a repeat gets the
stored answer (``Idempotent-Replayed: true``; a JSON body with a boolean ``replayed`` says
``true`` too, so header and body agree) and causes no second effect. The same key with another
request is 409; a repeat while the first is still running is 409 with ``Retry-After``. An answer of
5xx is not stored, so the client may retry with the same key; nor is a service's 409 saying that the
key already moved something else (``IDEMPOTENCY_KEY_REUSED``, the ledger's memory of the key): that
request never owned the key, so the record is released and the key's first request, asked again,
is answered by the ledger's replay instead of by this refusal.
"""

from __future__ import annotations

import hashlib
import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import require_tenant
from gateway.bound_stubs import BoundStub
from gateway.clients import ServiceClients
from gateway.problems import ServiceCallError, problem, problem_for_rpc_error
from patron.profile.v1 import profile_pb2, profile_pb2_grpc

HEADER = b"idempotency-key"
SECRET_ANSWERS = ("/v1/api-keys", "/v1/session")
"""Routes whose answer carries a secret (a new API key, a session's CSRF token and cookie): never
stored, so never replayed; a retry issues another key, and the unused one is revoked like any other
(docs/security.md)."""
REUSED_BY_SERVICE = "IDEMPOTENCY_KEY_REUSED"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" else None
        path: str = scope.get("path", "")
        if (
            key is None
            or scope["method"] != "POST"
            or not path.startswith("/v1/")
            or path.startswith("/v1/admin")
            or path.startswith(SECRET_ANSWERS)
        ):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        clients: ServiceClients = state.clients
        try:
            tenant = await require_tenant(Request(scope))
        except (HTTPException, ServiceCallError):
            await self.app(scope, receive, send)  # the route answers the authentication problem
            return
        body = await _read_body(receive)
        query: bytes = scope.get("query_string", b"")
        digest = hashlib.sha256(b"POST\n" + path.encode() + b"?" + query + b"\n" + body).hexdigest()
        records = BoundStub(clients, profile_pb2_grpc.IdempotencyServiceStub, tenant.tenant_id)
        try:
            begun = await records.BeginIdempotent(
                profile_pb2.BeginIdempotentRequest(key=key, method="POST", path=path, request_sha256=digest)
            )
        except ServiceCallError as error:
            await problem_for_rpc_error(error.error, error.service)(scope, receive, send)
            return
        outcome = profile_pb2.BeginIdempotentResponse
        if begun.outcome == outcome.REPLAY:
            body = _as_replay(begun.content_type, begun.body)
            await _send(send, begun.status_code, begun.content_type, body, replayed=True)
            return
        if begun.outcome == outcome.MISMATCH:
            response = problem(
                409,
                "this Idempotency-Key was used with another request",
                reason="KEY_REUSED",
                idempotency_key=key,
            )
            await response(scope, receive, send)
            return
        if begun.outcome == outcome.IN_PROGRESS:
            response = problem(
                409,
                "the first request with this Idempotency-Key is still running",
                reason="KEY_IN_PROGRESS",
                idempotency_key=key,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        await self._run_and_remember(scope, body, send, records, key)

    async def _run_and_remember(
        self, scope: Scope, body: bytes, send: Send, records: BoundStub, key: str
    ) -> None:
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        status = 500
        content_type = "application/json"
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            try:
                if status < 500 and not _refused_as_reused(status, content_type, chunks):
                    await records.CompleteIdempotent(
                        profile_pb2.CompleteIdempotentRequest(
                            key=key, status_code=status, body=b"".join(chunks), content_type=content_type
                        )
                    )
                else:
                    await records.AbandonIdempotent(profile_pb2.AbandonIdempotentRequest(key=key))
            except ServiceCallError:
                pass  # the record stays pending and expires; a repeat is told the first is running


def _refused_as_reused(status: int, content_type: str, chunks: list[bytes]) -> bool:
    """Whether the answer is a service's refusal of a key that moved something else before."""
    if status != 409 or "json" not in content_type:
        return False
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("reason") == REUSED_BY_SERVICE


def _as_replay(content_type: str, body: bytes) -> bytes:
    """The stored answer as a replay says it: a JSON object's boolean ``replayed`` (the ledger's
    movements) was false when first answered, and is true now that nothing moves again."""
    if not content_type.startswith("application/json"):
        return body
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if not isinstance(answer, dict) or answer.get("replayed") is not False:
        return body
    answer["replayed"] = True
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, status: int, content_type: str, body: bytes, *, replayed: bool) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
