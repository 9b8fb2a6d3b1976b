"""What the HTTP-based providers share: one request read to the end, reading ``Retry-After``,
classifying transport errors, trimming an error body to something worth keeping in the message's
failure record."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from services.notify.domain.delivery import Failed, Outcome, Retry
from services.notify.providers.http_session import SharedSession
from services.notify.providers.ssrf import AddressGuard, Unresolvable, UnsafeUrl

MAX_ERROR = 300
DEFAULT_TIMEOUT = 10.0

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError)
"""What a request can raise besides our own bugs: catch these and pass them to ``transport_outcome``.
(``asyncio.TimeoutError`` is ``TimeoutError`` since Python 3.11.)"""


@dataclass(frozen=True)
class Answer:
    """A provider's whole answer, read inside the request so its connection went back to the pool."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    charset: str | None = None

    @property
    def text(self) -> str:
        """The body as text: the declared charset, else UTF-8; undecodable bytes replaced, not fatal."""
        try:
            return self.content.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not (``json`` detects UTF-8/16/32 itself)."""
        return json.loads(self.content)


def json_body(document: object) -> bytes:
    """Compact UTF-8 JSON, as the HTTP client sent it before (``ensure_ascii=False``, no spaces)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


async def request(
    http: SharedSession,
    method: str,
    url: str,
    *,
    timeout_seconds: float,
    **options: Any,
) -> Answer:
    """One request, no redirects followed, ``timeout_seconds`` bounding all of it (connect, send, read).

    Raises one of ``TRANSPORT_ERRORS``; the body is read before the response is released, which is what
    lets aiohttp keep the connection for the next request."""
    session = await http.get()
    async with session.request(
        method,
        url,
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        **options,
    ) as response:
        content = await response.read()
        return Answer(response.status, response.headers, content, response.charset)


def short(text: str) -> str:
    """At most ``MAX_ERROR`` characters of a provider's answer, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR else flat[: MAX_ERROR - 1] + "…"


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date, RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def transport_outcome(exc: Exception) -> Outcome:
    """A timeout or connection failure is transient: the provider may not even have seen the request.

    A broken exchange (a truncated body, an answer that is not HTTP) is transient too: aiohttp reports
    it as ``ClientPayloadError`` / ``ClientResponseError`` (we never ask it to raise for a status), where
    the previous client called it a transport error. Anything else (an invalid URL) fails."""
    if isinstance(exc, TimeoutError):  # includes aiohttp.ServerTimeoutError
        return Retry(f"timeout: {type(exc).__name__}")
    if isinstance(
        exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError
    ):
        return Retry(f"connection error: {type(exc).__name__}: {short(str(exc))}")
    return Failed(f"http error: {type(exc).__name__}: {short(str(exc))}")


async def guard_outcome(guard: AddressGuard, url: str) -> Outcome | None:
    """None when ``url`` may be called now; else Retry for a host that does not resolve at the moment,
    Failed for one that leads into our own network (that needs the operator to change the URL)."""
    try:
        await guard.check(url)
    except Unresolvable as exc:
        return Retry(str(exc))
    except UnsafeUrl as exc:
        return Failed(f"refused by the SSRF guard: {exc}")
    return None
