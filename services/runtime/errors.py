"""Domain errors: what a rule says went wrong, independent of any transport.

Domain and store code raise these; the gRPC interceptor maps them to status codes in one place
(``services.runtime.grpc_errors``) and the gateway maps the codes to HTTP. Nothing here imports grpc.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad input field, named by its path as the REST client wrote it (``items[2].quantity``)."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error a rule raises on purpose. ``reason`` is a stable machine-readable code."""

    reason: str = "DOMAIN_ERROR"

    def __init__(
        self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class NotFound(DomainError):
    """The thing does not exist in the caller's tenant (or exists only in another one)."""

    reason = "NOT_FOUND"


class InvalidArgument(DomainError):
    """The input breaks a rule; ``violations`` names each field at fault."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Sequence[FieldViolation], message: str | None = None) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.message}" for v in self.violations)
        super().__init__(message or summary or "invalid argument")

    @classmethod
    def single(cls, field: str, message: str) -> InvalidArgument:
        """Shorthand for an error about one field."""
        return cls([FieldViolation(field, message)])


class AlreadyExists(DomainError):
    """Creating something that already exists under the same identifier."""

    reason = "ALREADY_EXISTS"


class Conflict(DomainError):
    """The current state forbids the operation (insufficient balance, already redeemed, ...)."""

    reason = "CONFLICT"


class RateLimited(DomainError):
    """A limit was reached; retry after ``retry_after_seconds``."""

    reason = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message, metadata={"retry_after_seconds": str(retry_after_seconds)})
        self.retry_after_seconds = retry_after_seconds


class Unauthenticated(DomainError):
    """The caller did not say who it is (missing tenant, unknown key)."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    reason = "PERMISSION_DENIED"


class Unavailable(DomainError):
    """A dependency (the database) does not answer; the call may be retried."""

    reason = "UNAVAILABLE"


@dataclass(slots=True)
class ViolationCollector:
    """Collects every violation of an input before raising, so a client learns all of them at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, message: str) -> None:
        self.violations.append(FieldViolation(field_path, message))

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
