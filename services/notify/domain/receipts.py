"""Delivery receipts: a provider's callback saying a message was delivered, failed or bounced.

Receipts are accepted for channels whose provider is the generic ``http`` one and that hold a signing
secret: the callback must carry a Standard Webhooks signature made with that channel's secret (the
same secret the provider's requests are signed with), so nobody else can mark messages delivered.
Body: one receipt or a list of at most ``MAX_RECEIPTS``: ``{"message_id", "status": "delivered" |
"failed" | "bounced", "error"?}``. A bounce also stops the channel for the customer. Receipts for
messages of another tenant or channel, or in a state a receipt cannot move, change nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.runtime.errors import InvalidArgument, NotFound, Unauthenticated, ViolationCollector

MAX_RECEIPTS = 1_000
MAX_RECEIPT_BYTES = 1_048_576
RECEIPT_STATUSES = ("delivered", "failed", "bounced")
MAX_ERROR = 500


@dataclass(frozen=True)
class Receipt:
    message_id: uuid.UUID
    status: str
    error: str


@dataclass(frozen=True)
class ProviderReceipt:
    """A receipt naming the message by the id the provider answered at send time (WeChat's msgid),
    for providers whose callbacks never see our message id."""

    provider_message_id: str
    status: str
    error: str


class ReceiptStore(Protocol):
    async def receipt_secret(self, tenant_id: uuid.UUID, channel: str) -> str | None:
        """The channel's signing secret when its provider is ``http`` and has one."""
        ...

    async def apply_receipts(
        self, tenant_id: uuid.UUID, channel: str, receipts: Sequence[Receipt]
    ) -> int: ...


Verify = Callable[[str, Mapping[str, str], bytes], None]


def parse_receipts(body: bytes) -> list[Receipt]:
    """The receipts of a callback body; InvalidArgument naming each fault's index."""
    if len(body) > MAX_RECEIPT_BYTES:
        raise InvalidArgument.single("body", f"at most {MAX_RECEIPT_BYTES} bytes")
    try:
        document: Any = json.loads(body)
    except ValueError:
        raise InvalidArgument.single("body", "is not JSON") from None
    items = document if isinstance(document, list) else [document]
    errors = ViolationCollector()
    if len(items) > MAX_RECEIPTS:
        errors.add("body", f"at most {MAX_RECEIPTS} receipts")
    errors.raise_if_any()
    receipts: list[Receipt] = []
    for index, item in enumerate(items):
        where = f"[{index}]"
        if not isinstance(item, dict):
            errors.add(where, "must be an object")
            continue
        try:
            message_id = uuid.UUID(str(item.get("message_id")))
        except ValueError:
            errors.add(f"{where}.message_id", "must be a UUID")
            continue
        status = item.get("status")
        if status not in RECEIPT_STATUSES:
            errors.add(f"{where}.status", f"must be one of {', '.join(RECEIPT_STATUSES)}")
            continue
        error = item.get("error") or ""
        receipts.append(Receipt(message_id, str(status), str(error)[:MAX_ERROR]))
    errors.raise_if_any()
    return receipts


class ReceiptDesk:
    """Checks a callback's signature, then applies its receipts."""

    def __init__(self, store: ReceiptStore, verify: Verify) -> None:
        self._store = store
        self._verify = verify

    async def apply(self, tenant_id: uuid.UUID, channel: str, body: bytes, headers: Mapping[str, str]) -> int:
        """How many messages the receipts moved."""
        secret = await self._store.receipt_secret(tenant_id, channel)
        if secret is None:
            raise NotFound(f"the {channel} channel takes no receipts")
        try:
            self._verify(secret, headers, body)
        except Exception as error:
            raise Unauthenticated("the receipt's signature does not verify") from error
        return await self._store.apply_receipts(tenant_id, channel, parse_receipts(body))
