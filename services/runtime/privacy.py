"""What every service answers about a data subject (docs/security.md, "Privacy: export and erasure"):
its part of the customer's export and whether it has finished erasing the customer.

Each service implements :class:`PrivacyPort` over its own tables (no gRPC here: a domain may use it);
``privacy_servicer`` serves it as ``patron.common.v1.CustomerPrivacy``. What bounds an export is
``MAX_EXPORT_ROWS`` per section, checked by the stores (:func:`bounded`), beyond which the export is
refused (EXPORT_TOO_LARGE) rather than cut short; the parts it travels in have no such bound.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from services.runtime.errors import Conflict

MAX_EXPORT_ROWS = 200_000
EXPORT_TOO_LARGE = "EXPORT_TOO_LARGE"


@dataclass(frozen=True, slots=True)
class ErasureStatus:
    """Whether a service has finished erasing a customer, and when."""

    customer_id: uuid.UUID
    erased_at: datetime | None

    @property
    def done(self) -> bool:
        return self.erased_at is not None


class PrivacyPort(Protocol):
    async def export_customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
    ) -> Mapping[str, Any]:
        """Every section this service holds of the customer (and of ``merged_ids``), as JSON-able
        values; a list section holds rows, anything else is one object."""
        ...

    async def erasure_status(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ErasureStatus:
        """Whether this service has finished erasing the customer (profile: NotFound unless erased)."""
        ...


def bounded(service: str, section: str, rows: Sequence[Any]) -> list[Any]:
    """``rows`` of one section, read with ``LIMIT MAX_EXPORT_ROWS + 1``: more than the bound is refused
    (409 EXPORT_TOO_LARGE naming the service and section), never silently cut."""
    if len(rows) > MAX_EXPORT_ROWS:
        raise Conflict(
            f"the {service} service holds more than {MAX_EXPORT_ROWS} rows of {section} for this customer;"
            " an export this large is not answered in one request",
            reason=EXPORT_TOO_LARGE,
            metadata={"service": service, "section": section, "max_rows_count": str(MAX_EXPORT_ROWS)},
        )
    return list(rows)


def export_value(value: object) -> str | int:
    """JSON of what an export holds beyond JSON's types: times in RFC 3339 (``Z`` for UTC) like every
    other answer of the API, dates as ``YYYY-MM-DD``, whole decimals (SQL sums) as numbers, anything
    else (UUIDs, other decimals: never rounded through a float) as text."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
