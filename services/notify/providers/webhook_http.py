"""POSTing a webhook delivery: Standard Webhooks headers, the SSRF guard before each request, and
explicit timeouts; the receiver's answer is read as a status code only.

The guard resolves the URL's host right before each request (``ssrf.py`` explains DNS rebinding);
redirects are not followed (a 3xx is a failed attempt: a redirect could lead anywhere, including
inside our network); the response body is never read, so a receiver cannot make a worker hold a
large answer in memory.
"""

from __future__ import annotations

import time
from datetime import datetime

import httpx

from services.notify.domain.webhook_worker import DueDelivery, SendResult
from services.notify.providers.signing import signed_headers
from services.notify.providers.ssrf import AddressGuard, UnsafeUrl

USER_AGENT = "Patron-Webhooks/1"
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_ERROR_LENGTH = 300


class HttpWebhookSender:
    """Sends deliveries over one pooled HTTP client; ``timeout_seconds`` bounds each whole request."""

    def __init__(self, guard: AddressGuard, timeout_seconds: float, max_connections: int) -> None:
        self._guard = guard
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"user-agent": USER_AGENT},
        )

    async def send(self, delivery: DueDelivery, attempted_at: datetime) -> SendResult:
        """One signed POST; the status code, or the error (refused address, timeout, connection)."""
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            await self._guard.check(delivery.url)
        except UnsafeUrl as refusal:
            return SendResult(None, f"refused: {refusal}"[:MAX_ERROR_LENGTH], elapsed())
        if delivery.secret is None:  # the worker records this itself; never send unsigned
            return SendResult(None, "no signing secret", elapsed())
        body = delivery.body.encode()
        headers = {
            **signed_headers(delivery.secret, str(delivery.delivery_id), attempted_at, body),
            "content-type": "application/json",
        }
        try:
            async with self._client.stream("POST", delivery.url, content=body, headers=headers) as answer:
                return SendResult(answer.status_code, None, elapsed())
        except httpx.TimeoutException:
            return SendResult(None, "timeout", elapsed())
        except httpx.HTTPError as error:
            return SendResult(None, f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH], elapsed())

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()
