"""Provider ``http``: any channel delivered by POSTing JSON to the tenant's own endpoint (API.md).

Body ``{"message_id", "channel", "to", "subject"?, "body", "data"?}``, signed with Standard Webhooks
headers when the channel has a secret (``webhook-id`` is the message id), plus ``Idempotency-Key: <message
id>``: the receiver can drop a second copy after our crash-and-retry, which is why this provider is
``idempotent``. Answers: 2xx accepted (the provider's id from a JSON ``"id"`` if any); 429 retried after
``Retry-After``; 5xx, timeouts and connection errors retried; 410 Gone means this recipient is gone for
good (refused); any other 4xx is a permanent failure recorded with the status and a short body. The
SSRF guard is checked before each request, since the URL's DNS may have changed since it was saved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.notify.domain.delivery import Accepted, Failed, Outcome, Outgoing, Refused, Retry
from services.notify.providers._http import (
    DEFAULT_TIMEOUT,
    TRANSPORT_ERRORS,
    Answer,
    guard_outcome,
    request,
    retry_after,
    short,
    transport_outcome,
)
from services.notify.providers.http_session import SharedSession
from services.notify.providers.signing import signed_headers
from services.notify.providers.ssrf import AddressGuard


def payload(message: Outgoing) -> bytes:
    """The JSON body as sent (and signed), compact so the signature covers exactly these bytes."""
    document: dict[str, Any] = {
        "message_id": message.message_id,
        "channel": message.channel,
        "to": message.to,
        "body": message.body,
    }
    if message.subject is not None:
        document["subject"] = message.subject
    if message.data:
        document["data"] = dict(message.data)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class HttpProvider:
    """POSTs each message to one URL; the shared session belongs to the caller."""

    idempotent = True

    def __init__(
        self,
        *,
        url: str,
        secret: str | None,
        http: SharedSession,
        guard: AddressGuard,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url, self.secret, self.http, self.guard, self.timeout = url, secret, http, guard, timeout

    async def send(self, message: Outgoing) -> Outcome:
        """One signed POST, classified (see the module docstring); never raises for the answer."""
        unsafe = await guard_outcome(self.guard, self.url)
        if unsafe is not None:
            return unsafe
        body = payload(message)
        headers = {
            "content-type": "application/json",
            "idempotency-key": message.idempotency_key or message.message_id,
        }
        if self.secret:
            headers.update(signed_headers(self.secret, message.message_id, datetime.now(UTC), body))
        try:
            response = await request(
                self.http, "POST", self.url, data=body, headers=headers, timeout_seconds=self.timeout
            )
        except TRANSPORT_ERRORS as exc:
            return transport_outcome(exc)
        return classify(response)

    async def aclose(self) -> None:
        """Nothing of its own to release: the HTTP session is shared and closed by its owner."""


def classify(response: Answer) -> Outcome:
    """The outcome of the endpoint's answer."""
    status = response.status_code
    if 200 <= status < 300:
        provider_id = ""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
            provider_id = str(answer["id"])
        return Accepted(provider_id)
    error = f"HTTP {status}: {short(response.text)}"
    if status == 429:
        return Retry(error, retry_after(response.headers.get("retry-after")))
    if status >= 500 or status in (408, 425):
        return Retry(error, retry_after(response.headers.get("retry-after")))
    if status == 410:
        return Refused(error)
    return Failed(error)
