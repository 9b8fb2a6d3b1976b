"""The importer's HTTP side: calls to the gateway, retried only when a retry can help.

Retried, with exponential backoff and jitter (honouring ``Retry-After``): 429, 502, 503, 504 and
connection errors or timeouts — the answers that mean "not now". Never retried: every other answer,
since a 4xx will be the same next time and a 500 is a bug to report. Re-sending is safe: an order id
or an identity set is idempotent, a repeated order counts as a duplicate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_ATTEMPTS = 8
MAX_RETRY_AFTER_SECONDS = 60.0


class Retryable(Exception):
    """An answer that means "try again later", with the server's ``Retry-After`` when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ImportAborted(Exception):
    """The API refused a call as a whole (bad key, body too large, a server error): stop the import."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


class _RetryAfterOrBackoff(wait_base):
    """The server's ``Retry-After`` when it gave one, else ``initial`` doubling up to ``maximum``,
    plus up to ``initial`` of jitter (so that many importers do not retry in step)."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._random = random.SystemRandom()

    def __call__(self, retry_state: Any) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
        doubled: float = self._initial * 2 ** min(int(retry_state.attempt_number) - 1, 30)
        return min(doubled, self._maximum) + self._random.uniform(0, self._initial)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


class ApiClient:
    """POSTs JSON to the gateway with the tenant's API key; see the module docstring for retries."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._attempts = attempts
        self._wait = _RetryAfterOrBackoff(backoff_initial, backoff_max)
        self.retries = 0

    async def post(self, path: str, body: bytes, *, ok: frozenset[int] = frozenset({200})) -> Answer:
        """POST ``body`` (JSON bytes); the answer when its status is in ``ok``, else ImportAborted."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type((Retryable, httpx.TransportError)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.retries += 1
                    return self._judge(await self._client.post(path, content=body, headers=self._headers), ok)
        except Retryable as error:
            raise ImportAborted(f"{path}: still {error} after {self._attempts} attempts") from None
        except httpx.TransportError as error:
            raise ImportAborted(
                f"{path}: {type(error).__name__} after {self._attempts} attempts: {error}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    @staticmethod
    def _judge(response: httpx.Response, ok: frozenset[int]) -> Answer:
        if response.status_code in RETRY_STATUSES:
            raise Retryable(f"HTTP {response.status_code}", _retry_after(response))
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code not in ok:
            detail = body.get("detail") if isinstance(body, dict) else str(body)[:300]
            raise ImportAborted(f"HTTP {response.status_code}: {detail}")
        return Answer(response.status_code, body)
