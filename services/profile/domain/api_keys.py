"""A tenant's API keys: issue, list, revoke and roll (a new key while the old one keeps working for a
chosen overlap), and the last-used time, written at most once a minute per key.

Keys are stored only as SHA-256; the key itself is made by the gateway and shown once. The rules of
what a key may hold live here; the gateway checks the caller's scopes before calling.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.runtime.errors import InvalidArgument, NotFound, ViolationCollector

# API.md "Access": what a key may be allowed to do, plus ``audit`` (reading the audit log,
# docs/security.md "Audit log"). A tenant's first key holds them all.
SCOPES = ("ingest", "read", "points", "privacy", "operate", "audit")
MAX_NAME_LENGTH = 100
MAX_OVERLAP = timedelta(days=7)
# A key's last use is written when the one stored is older than this: no write per request.
LAST_USED_EVERY = timedelta(minutes=1)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as the tenant sees it: never the secret, only the prefix it starts with."""

    key_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    rolled_from: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class NewKey:
    """What the store writes for a new key."""

    key_hash: bytes
    prefix: str
    name: str
    scopes: list[str]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """A valid key's owner and what it may do (see ``TenantRegistry.resolve_key``)."""

    key_id: uuid.UUID
    scopes: list[str]
    last_used_at: datetime | None


class ApiKeyStore(Protocol):
    async def issue(self, tenant_id: uuid.UUID, key: NewKey) -> ApiKey | None: ...
    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]: ...
    async def revoke(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None: ...
    async def roll(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID, key_hash: bytes, prefix: str, overlap: timedelta
    ) -> tuple[ApiKey, ApiKey] | None: ...
    async def touch(self, tenant_id: uuid.UUID, key_id: uuid.UUID, stale_before: datetime) -> None: ...


def parse_key_hash(value: str, field: str = "api_key_sha256") -> bytes:
    """The SHA-256 of an API key, as the gateway sends it (64 lower-case hex digits)."""
    if not _SHA256_HEX.match(value):
        raise InvalidArgument.single(field, "must be 64 lower-case hex digits")
    return bytes.fromhex(value)


def parse_prefix(value: str) -> str:
    if not value or len(value) > 16:
        raise InvalidArgument.single("api_key_prefix", "must be 1 to 16 characters")
    return value


def parse_overlap(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours, minutes and seconds, from PT0S up to P7D."""
    match = _DURATION.match(text) if text not in ("P", "PT") and not text.endswith("T") else None
    if match is None:
        raise InvalidArgument.single("overlap", "must be an ISO 8601 duration such as PT1H or P1D")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if max(days, hours, minutes, seconds) > 10_000_000:
        raise InvalidArgument.single("overlap", "must be at most P7D")
    overlap = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if overlap > MAX_OVERLAP:
        raise InvalidArgument.single("overlap", "must be at most P7D")
    return overlap


def parse_key_id(key_id: str) -> uuid.UUID:
    """A key id; a malformed one can never exist, so it is not found rather than invalid."""
    try:
        return uuid.UUID(key_id)
    except ValueError:
        raise NotFound("API key not found") from None


def validate_new_key(name: str, scopes: Sequence[str], expires_at: datetime | None, now: datetime) -> None:
    """A name to recognise the key by, at least one known scope (each once), an expiry to come."""
    errors = ViolationCollector()
    if not name.strip():
        errors.add("name", "must not be blank")
    elif len(name) > MAX_NAME_LENGTH:
        errors.add("name", f"must be at most {MAX_NAME_LENGTH} characters")
    if not scopes:
        errors.add("scopes", "must hold at least one scope")
    for index, scope in enumerate(scopes):
        if scope not in SCOPES:
            errors.add(f"scopes[{index}]", f"must be one of {', '.join(SCOPES)}")
        elif scope in scopes[:index]:
            errors.add(f"scopes[{index}]", "is given twice")
    if expires_at is not None and expires_at <= now:
        errors.add("expires_at", "must be in the future")
    errors.raise_if_any()


class ApiKeys:
    """The tenant's keys. Every call acts for one tenant; a key of another tenant is not found."""

    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store

    async def issue(
        self,
        tenant_id: uuid.UUID,
        api_key_sha256: str,
        api_key_prefix: str,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None,
    ) -> ApiKey:
        """Store a new key (its hash) with its name, scopes and optional expiry."""
        key_hash = parse_key_hash(api_key_sha256)
        prefix = parse_prefix(api_key_prefix)
        validate_new_key(name, scopes, expires_at, datetime.now(UTC))
        issued = await self._store.issue(tenant_id, NewKey(key_hash, prefix, name, list(scopes), expires_at))
        if issued is None:
            raise NotFound("tenant not found")
        return issued

    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        """Every key of the tenant, newest first, revoked and expired ones included."""
        return await self._store.list(tenant_id)

    async def revoke(self, tenant_id: uuid.UUID, key_id: str) -> ApiKey:
        """Revoke the key now (revoking it again changes nothing)."""
        revoked = await self._store.revoke(tenant_id, parse_key_id(key_id))
        if revoked is None:
            raise NotFound("API key not found")
        return revoked

    async def roll(
        self, tenant_id: uuid.UUID, key_id: str, api_key_sha256: str, api_key_prefix: str, overlap: str
    ) -> tuple[ApiKey, ApiKey]:
        """A new key with the old one's name, scopes and expiry; the old one expires after ``overlap``
        (or earlier, if it was to expire sooner). A revoked or expired key cannot be rolled."""
        window = parse_overlap(overlap)
        key_hash = parse_key_hash(api_key_sha256)
        prefix = parse_prefix(api_key_prefix)
        rolled = await self._store.roll(tenant_id, parse_key_id(key_id), key_hash, prefix, window)
        if rolled is None:
            raise NotFound("API key not found (or revoked, or expired)")
        return rolled

    async def note_use(self, tenant_id: uuid.UUID, resolved: ResolvedKey) -> None:
        """Record that the key was used, when the time stored is more than a minute old."""
        now = datetime.now(UTC)
        if resolved.last_used_at is None or resolved.last_used_at < now - LAST_USED_EVERY:
            await self._store.touch(tenant_id, resolved.key_id, now - LAST_USED_EVERY)
