"""POSTing a webhook delivery: Standard Webhooks headers, the SSRF guard before each request, and
explicit timeouts; the receiver's answer is read as a status code only.

The guard resolves the URL's host right before each request (``ssrf.py`` explains DNS rebinding);
redirects are not followed (a 3xx is a failed attempt: a redirect could lead anywhere, including
inside our network); the response body is never kept: at most ``DRAIN_LIMIT`` bytes of it are read
and dropped, so a receiver's usual short answer lets the connection go back to the pool, while a large
one cannot make a worker hold it in memory (the connection is closed instead).
"""

from __future__ import annotations

import time
from datetime import datetime

import aiohttp

from services.notify.domain.webhook_worker import DueDelivery, SendResult
from services.notify.providers.http_session import SharedSession
from services.notify.providers.signing import signed_headers
from services.notify.providers.ssrf import AddressGuard, UnsafeUrl

USER_AGENT = "Patron-Webhooks/1"
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_ERROR_LENGTH = 300
DRAIN_LIMIT = 64 * 1024
DRAIN_CHUNK = 16 * 1024


class HttpWebhookSender:
    """Sends deliveries over one pooled HTTP session; ``timeout_seconds`` bounds each whole request.

    The session opens on the first send (it must be created in the running loop)."""

    def __init__(self, guard: AddressGuard, timeout_seconds: float, max_connections: int) -> None:
        self._guard = guard
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        )
        self._session = SharedSession(limit=max_connections, headers={"user-agent": USER_AGENT})

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
        session = await self._session.get()
        try:
            async with session.post(
                delivery.url, data=body, headers=headers, allow_redirects=False, timeout=self._timeout
            ) as answer:
                status = answer.status
                await _drain(answer)
                return SendResult(status, None, elapsed())
        except TimeoutError:  # includes aiohttp.ServerTimeoutError
            return SendResult(None, "timeout", elapsed())
        except aiohttp.ClientError as error:
            return SendResult(None, f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH], elapsed())

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._session.aclose()


async def _drain(answer: aiohttp.ClientResponse) -> None:
    """Read and drop up to ``DRAIN_LIMIT`` bytes of the body: a body read to its end returns the
    connection to the pool; a longer one (or one that breaks off) only costs that connection. The
    status is already known, so a failure here does not change the result."""
    read = 0
    try:
        while read <= DRAIN_LIMIT:
            chunk = await answer.content.read(DRAIN_CHUNK)
            if not chunk:
                return
            read += len(chunk)
    except (aiohttp.ClientError, TimeoutError):
        return
    answer.close()  # too long to drain: drop the connection rather than wait for the rest
