"""The operators of a tenant, who sign in to the dashboard: create, list, change role, disable.

Rules decided here (docs/security.md, "Operators and sessions"):
- an operator has an e-mail (unique per tenant, compared and kept in lower case), a password (see
  ``services.profile.domain.passwords``) and one role of :data:`ROLES`; what a role may do is the
  gateway's to decide (it maps roles to scopes);
- a tenant has at most :data:`MAX_OPERATORS` operators;
- a tenant always keeps an active owner: the last one cannot be demoted or disabled (409);
- disabling an operator, or giving it a new password, ends its sessions at once.

The store is a protocol; ``services.profile.store.operators`` implements it, holding the tenant's
operators still (a lock) while a change is checked, so that two owners cannot demote each other.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.profile.domain.passwords import Passwords, check_new_password
from services.runtime.errors import Conflict, NotFound, ViolationCollector

ROLES = ("owner", "marketer", "analyst", "support")
OWNER = "owner"
MAX_OPERATORS = 500
MAX_EMAIL_LENGTH = 254
# One @ between two parts without white space or control characters (what the gateway's schema says).
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator as the tenant sees it (never the password hash)."""

    operator_id: uuid.UUID
    email: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    last_sign_in_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewOperator:
    """What the store writes for a new operator."""

    email: str
    password_hash: str
    role: str


@dataclass(frozen=True, slots=True)
class OperatorChange:
    """A change to an operator; ``None`` leaves that part as it is."""

    role: str | None = None
    disabled: bool | None = None
    password_hash: str | None = None


class OperatorStore(Protocol):
    async def create(self, tenant_id: uuid.UUID, new: NewOperator, limit: int) -> Operator | None: ...
    async def list(self, tenant_id: uuid.UUID) -> list[Operator]: ...
    async def get(self, tenant_id: uuid.UUID, operator_id: uuid.UUID) -> Operator | None: ...
    async def update(
        self, tenant_id: uuid.UUID, operator_id: uuid.UUID, change: OperatorChange
    ) -> Operator | None: ...


def normalise_email(email: str, errors: ViolationCollector, field: str = "email") -> str:
    """The e-mail as it is kept and compared: NFC, lower case; one ``@`` between two parts without white
    space or control characters (whether the mailbox exists is the owner's business)."""
    if len(email) > MAX_EMAIL_LENGTH:
        errors.add(field, f"must be at most {MAX_EMAIL_LENGTH} characters")
    elif not _EMAIL.fullmatch(email):
        errors.add(field, "must be an e-mail address: name@domain, without spaces")
    return unicodedata.normalize("NFC", email).lower()


def check_role(role: str, errors: ViolationCollector, field: str = "role") -> None:
    if role not in ROLES:
        errors.add(field, f"must be one of {', '.join(ROLES)}")


def parse_operator_id(operator_id: str) -> uuid.UUID:
    """An operator id; a malformed one can never exist, so it is not found rather than invalid."""
    try:
        return uuid.UUID(operator_id)
    except ValueError:
        raise NotFound("operator not found") from None


def check_change(current: Operator, change: OperatorChange, other_active_owners: int) -> None:
    """The last active owner stays one: it can be neither demoted nor disabled (409)."""
    stays_owner = (change.role or current.role) == OWNER and not (
        change.disabled if change.disabled is not None else current.disabled_at is not None
    )
    if current.role == OWNER and current.disabled_at is None and not stays_owner and not other_active_owners:
        raise Conflict(
            "this is the tenant's last active owner: make another operator owner first",
            reason="LAST_OWNER",
        )


class Operators:
    """A tenant's operators. Every call acts for one tenant; another tenant's operator is not found."""

    def __init__(self, store: OperatorStore, passwords: Passwords) -> None:
        self._store = store
        self._passwords = passwords

    async def create(self, tenant_id: uuid.UUID, email: str, password: str, role: str) -> Operator:
        """A new operator (409 when the e-mail is taken in the tenant, or the tenant is full)."""
        errors = ViolationCollector()
        normalised = normalise_email(email, errors)
        check_new_password(password, normalised, errors)
        check_role(role, errors)
        errors.raise_if_any()
        password_hash = await self._passwords.hash(password)
        created = await self._store.create(
            tenant_id, NewOperator(normalised, password_hash, role), MAX_OPERATORS
        )
        if created is None:
            raise NotFound("tenant not found")
        return created

    async def list(self, tenant_id: uuid.UUID) -> list[Operator]:
        """Every operator of the tenant, disabled ones included, oldest first."""
        return await self._store.list(tenant_id)

    async def update(
        self,
        tenant_id: uuid.UUID,
        operator_id: str,
        role: str | None,
        disabled: bool | None,
        password: str | None,
    ) -> Operator:
        """Change the role, disable or enable, or set a new password (which ends the sessions)."""
        key = parse_operator_id(operator_id)
        errors = ViolationCollector()
        if role is not None:
            check_role(role, errors)
        password_hash = None
        if password is not None:
            current = await self._store.get(tenant_id, key)
            if current is None:
                raise NotFound("operator not found")
            check_new_password(password, current.email, errors)
        errors.raise_if_any()
        if password is not None:
            password_hash = await self._passwords.hash(password)
        updated = await self._store.update(tenant_id, key, OperatorChange(role, disabled, password_hash))
        if updated is None:
            raise NotFound("operator not found")
        return updated
