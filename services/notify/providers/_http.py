"""What the HTTP-based providers share: reading ``Retry-After``, classifying transport errors, trimming
an error body to something worth keeping in the message's failure record."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from services.notify.domain.delivery import Failed, Outcome, Retry
from services.notify.providers.ssrf import AddressGuard, Unresolvable, UnsafeUrl

MAX_ERROR = 300
DEFAULT_TIMEOUT = 10.0


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


def transport_outcome(exc: httpx.HTTPError) -> Outcome:
    """A timeout or connection failure is transient: the provider may not even have seen the request."""
    if isinstance(exc, httpx.TimeoutException):
        return Retry(f"timeout: {type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
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
