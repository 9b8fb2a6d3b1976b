"""Standard Webhooks signing (https://www.standardwebhooks.com/): one scheme for everything we sign.

Merchant webhooks and the generic ``http`` provider both sign their POSTs the same way, with the
``standardwebhooks`` package, so a receiver can verify them with any Standard Webhooks library:
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed by the base64 secret
after its ``whsec_`` prefix. ``webhook-id`` doubles as the receiver's deduplication key (our message
id), so a retried delivery is recognisable. :func:`verify` checks providers' receipt callbacks signed
the same way, including the 5-minute timestamp tolerance the package enforces against replays.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
SECRET_BYTES = 32


class BadSignature(Exception):
    """The request's Standard Webhooks headers are missing, stale or do not match the body."""


def generate_secret() -> str:
    """A new signing secret, ``whsec_`` + base64 of 32 random bytes (the spec asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The three headers that make ``body`` verifiable by the receiver; ``body`` is signed byte for byte,
    so it must be sent exactly as given."""
    if timestamp.tzinfo is None:  # naive means UTC, as the package reads it
        timestamp = timestamp.replace(tzinfo=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`BadSignature` unless ``headers`` sign ``body`` with ``secret`` within the tolerance."""
    try:
        Webhook(secret).verify(body, dict(headers.items()), json_parse=False)
    except WebhookVerificationError as exc:
        raise BadSignature(str(exc)) from exc
    except (ValueError, TypeError) as exc:  # a malformed secret or header value
        raise BadSignature(f"cannot verify: {exc}") from exc
