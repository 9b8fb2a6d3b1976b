"""Operators' sessions: sign in (check the password, open a session), resolve, sign out.

A session is kept only as the SHA-256 of its token (made by the gateway, which alone sees it). It
ends at the first of: sign-out, its operator disabled or given a new password, ``lifetime`` after it
began (absolute), or ``idle`` after it was last seen. The last-seen time is written at most once a
minute (like a key's last use), so the idle timeout holds to within a minute. Sign-in answers one
error whatever was wrong (unknown e-mail, wrong password, disabled operator, unknown tenant), and
checks a dummy hash when there is no account so that the time taken says nothing either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.profile.domain.api_keys import parse_key_hash
from services.profile.domain.operators import Operator, normalise_email
from services.profile.domain.passwords import MAX_PASSWORD_LENGTH, Passwords
from services.runtime.errors import Unauthenticated, ViolationCollector
from services.runtime.tenancy import Tenant

SIGN_IN_FAILED = "SIGN_IN_FAILED"
# The last-seen time is written when the one stored is older than this: no write per request.
LAST_SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives: ``idle`` after it was last seen, ``lifetime`` after it began, and how
    many an operator holds at once (signing in past it ends the oldest)."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    max_per_operator: int = 20


@dataclass(frozen=True, slots=True)
class Credentials:
    """What sign-in checks: the operator's hash and whether it may sign in at all."""

    operator_id: uuid.UUID
    password_hash: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A session that is valid now, with its operator and tenant."""

    tenant: Tenant
    operator: Operator
    expires_at: datetime
    last_seen_at: datetime


class SessionStore(Protocol):
    async def credentials(self, tenant_id: uuid.UUID, email: str) -> Credentials | None: ...

    async def open(
        self,
        tenant_id: uuid.UUID,
        operator_id: uuid.UUID,
        session_hash: bytes,
        policy: SessionPolicy,
        new_password_hash: str | None,
    ) -> tuple[Operator, datetime] | None: ...

    async def resolve(self, session_hash: bytes, idle: timedelta) -> OpenSession | None: ...
    async def touch(self, tenant_id: uuid.UUID, session_hash: bytes, stale_before: datetime) -> None: ...
    async def revoke(self, tenant_id: uuid.UUID, session_hash: bytes) -> bool: ...


def _failed() -> Unauthenticated:
    return Unauthenticated("the e-mail or the password is wrong", reason=SIGN_IN_FAILED)


class Sessions:
    """Sign-in, session resolution and sign-out for the operators of every tenant."""

    def __init__(self, store: SessionStore, passwords: Passwords, policy: SessionPolicy) -> None:
        self._store = store
        self._passwords = passwords
        self._policy = policy

    async def sign_in(
        self, tenant_id: uuid.UUID, email: str, password: str, session_sha256: str
    ) -> tuple[Operator, datetime]:
        """Open a session for the operator whose e-mail and password these are; the operator and when
        the session ends at the latest. One error for every failure (``SIGN_IN_FAILED``)."""
        session_hash = parse_key_hash(session_sha256, "session_sha256")
        errors = ViolationCollector()
        normalised = normalise_email(email, errors)
        found = None
        if not errors.violations and len(password) <= MAX_PASSWORD_LENGTH:
            found = await self._store.credentials(tenant_id, normalised)
        matches = await self._passwords.verify(
            found.password_hash if found else None, password[:MAX_PASSWORD_LENGTH]
        )
        if found is None or not matches or found.disabled:
            raise _failed()
        rehashed = None
        if self._passwords.needs_rehash(found.password_hash):
            rehashed = await self._passwords.hash(password)
        opened = await self._store.open(tenant_id, found.operator_id, session_hash, self._policy, rehashed)
        if opened is None:  # disabled (or removed) since its credentials were read
            raise _failed()
        return opened

    async def resolve(self, session_sha256: str) -> OpenSession:
        """The valid session of this hash (its tenant and operator), or UNAUTHENTICATED."""
        session_hash = parse_key_hash(session_sha256, "session_sha256")
        found = await self._store.resolve(session_hash, self._policy.idle)
        if found is None:
            raise Unauthenticated("unknown, expired or ended session")
        stale_before = datetime.now(UTC) - LAST_SEEN_EVERY
        if found.last_seen_at < stale_before:
            await self._store.touch(found.tenant.tenant_id, session_hash, stale_before)
        return found

    async def revoke(self, tenant_id: uuid.UUID, session_sha256: str) -> bool:
        """End the session (sign out); false when it had already ended or is unknown."""
        return await self._store.revoke(tenant_id, parse_key_hash(session_sha256, "session_sha256"))
