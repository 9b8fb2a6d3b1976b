"""An operator's session: sign in (``POST /v1/session``), who is signed in (``GET``), sign out (``DELETE``).

Sign-in answers one 401 whatever was wrong (tenant, e-mail, password, a disabled operator) and is
throttled per account and per address (gateway.sessions_throttle). The session token goes only into
the HttpOnly cookie; the answer carries the CSRF token that writes must send back (gateway.sessions).
These routes are not tenant routes of a key: the sign-in names its tenant in the body, and the other
two act on the caller's own session only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import grpc
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from gateway.auth import Authenticator
from gateway.bound_stubs import BoundStub
from gateway.dependencies import Clients, problem_responses
from gateway.problems import ServiceCallError
from gateway.schemas import StrictBody
from gateway.sessions import (
    CookiePolicy,
    check_csrf,
    csrf_token_for,
    new_session_token,
    session_digest,
    session_token,
)
from gateway.sessions_roles import ROLE_SCOPES
from gateway.sessions_throttle import SignInThrottle, account_key
from patron.profile.v1 import operators_pb2, operators_pb2_grpc
from services.profile.domain.operators import MAX_EMAIL_LENGTH
from services.profile.domain.passwords import MAX_PASSWORD_LENGTH
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1/session", tags=["session"])

SIGN_IN_FAILED = "SIGN_IN_FAILED"
# Calls that hash a password (Argon2id, by design slow, and queued behind a bound on concurrent
# hashes) get a longer deadline than the gateway's default.
HASHING_DEADLINE_SECONDS = 10.0
# What the profile service accepts as an e-mail (services/profile/domain/operators.py).
EMAIL_PATTERN = "^[^@\\s\\x00-\\x1f\\x7f-\\x9f]+@[^@\\s\\x00-\\x1f\\x7f-\\x9f]+$"
_NO_CREDENTIALS: dict[str, object] = {"security": []}
_SESSION_ONLY: dict[str, object] = {"security": [{"session": []}]}


class SessionCreate(StrictBody):
    tenant_id: uuid.UUID
    email: str = Field(
        min_length=1, max_length=MAX_EMAIL_LENGTH, json_schema_extra={"pattern": EMAIL_PATTERN}
    )
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class SessionOut(BaseModel):
    tenant_id: str
    operator_id: str
    email: str
    role: str
    scopes: list[str] = Field(description="what the role stands for (an analyst only reads them)")
    expires_at: datetime = Field(description="the session's absolute end (it also ends when idle)")
    csrf_token: str = Field(description="send it as X-CSRF-Token with every write (also in patron_csrf)")


def _session_out(
    tenant_id: str, operator: operators_pb2.Operator, expires: datetime, token: str
) -> SessionOut:
    return SessionOut(
        tenant_id=tenant_id,
        operator_id=operator.operator_id,
        email=operator.email,
        role=operator.role,
        scopes=sorted(ROLE_SCOPES.get(operator.role, frozenset())),
        expires_at=expires,
        csrf_token=csrf_token_for(token),
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class SignInFailed(HTTPException):
    def __init__(self) -> None:
        super().__init__(401, "the e-mail or the password is wrong")
        self.extensions = {"reason": SIGN_IN_FAILED}


@router.post(
    "",
    status_code=201,
    response_model=SessionOut,
    responses=problem_responses(401, 422, 429, 503, 504),
    openapi_extra=_NO_CREDENTIALS,
)
async def sign_in(body: SessionCreate, request: Request, response: Response, clients: Clients) -> SessionOut:
    """Sign an operator in: sets the ``patron_session`` cookie (HttpOnly) and ``patron_csrf``."""
    tenant_id = str(body.tenant_id)
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address, account = _address(request), account_key(tenant_id, body.email)
    await throttle.reserve(address, account)
    token, digest = new_session_token()
    operators = BoundStub(clients, operators_pb2_grpc.OperatorServiceStub, tenant_id)
    try:
        signed = await operators.SignIn(
            operators_pb2.SignInRequest(email=body.email, password=body.password, session_sha256=digest),
            deadline_seconds=HASHING_DEADLINE_SECONDS,
        )
    except ServiceCallError as error:
        if error.error.code() != grpc.StatusCode.UNAUTHENTICATED:
            await throttle.give_back(address, account)
            raise
        raise SignInFailed() from None  # the reserved attempt stays used
    await throttle.give_back(address, account)
    expires_at = from_timestamp(signed.expires_at)
    cookies: CookiePolicy = request.app.state.cookie_policy
    cookies.set(response, request, token, expires_at)
    return _session_out(tenant_id, signed.operator, expires_at, token)


@router.get(
    "",
    response_model=SessionOut,
    responses=problem_responses(401, 503, 504),
    openapi_extra=_SESSION_ONLY,
)
async def who_is_signed_in(request: Request, clients: Clients) -> SessionOut:
    """The operator of the session cookie: tenant, e-mail, role, scopes and the CSRF token."""
    token = session_token(request)
    if not token:
        raise HTTPException(401, "no session: sign in with POST /v1/session")
    sessions = BoundStub(clients, operators_pb2_grpc.SessionServiceStub, None)
    try:
        found = await sessions.ResolveSession(
            operators_pb2.ResolveSessionRequest(session_sha256=session_digest(token))
        )
    except ServiceCallError as error:
        if error.error.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise HTTPException(401, "the session has ended or is unknown: sign in again") from None
        raise
    return _session_out(found.tenant.tenant_id, found.operator, from_timestamp(found.expires_at), token)


@router.delete(
    "",
    status_code=204,
    response_class=Response,
    responses=problem_responses(403, 503, 504),
    openapi_extra=_NO_CREDENTIALS,
)
async def sign_out(request: Request, clients: Clients) -> Response:
    """End the session of the cookie (with its CSRF token) and drop both cookies; without a session
    (none, or one already ended) only the cookies are dropped."""
    token = session_token(request)
    if token:
        authenticator: Authenticator = request.app.state.authenticator
        try:
            tenant = await authenticator.session_for(token)
        except HTTPException:
            tenant = None
        if tenant is not None:
            check_csrf(request, token)
            operators = BoundStub(clients, operators_pb2_grpc.OperatorServiceStub, tenant.tenant_id)
            await operators.RevokeSession(
                operators_pb2.RevokeSessionRequest(session_sha256=session_digest(token))
            )
            authenticator.forget_session(token)
    response = Response(status_code=204)
    cookies: CookiePolicy = request.app.state.cookie_policy
    cookies.clear(response, request)
    return response
