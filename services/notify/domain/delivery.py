"""What a provider is given and what it answers: the one interface every channel's adapter meets.

The delivery worker hands a provider one :class:`Outgoing` at a time and gets back one of four
outcomes, already classified by the adapter from the provider's own answer (its status code, its
error code, a timeout). The worker alone decides what follows: an accepted message is recorded as
sent, a retryable one is tried again later (after the provider's ``Retry-After`` when it gave one),
a failed one is recorded with the provider's error, and a refusal by the customer (WeChat's 43101,
an SMTP hard bounce of an unknown mailbox) also suppresses that customer on that channel.

A provider that honours an idempotency key (``Outgoing.idempotency_key``, the message id) says so
with ``idempotent``: after a crash between its answer and our commit, only such a provider is asked
again; for the others the message is recorded as ``failed`` with ``outcome_unknown`` rather than
risk a second copy (docs/notify.md, "Exactly once").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

CHANNELS = ("sms", "email", "push", "wechat")
PURPOSES = ("marketing", "service")


@dataclass(frozen=True)
class Outgoing:
    """One rendered message on its way to a provider; ``to`` is the clear contact, held in memory only."""

    message_id: str
    tenant_id: str
    channel: str
    to: str
    body: str
    subject: str | None = None
    html: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    # The provider's own template (an Aliyun TemplateCode, a WeChat template id) and its parameters,
    # rendered from the template's Liquid snippets; empty where the provider takes free text.
    provider_template: str | None = None
    provider_params: Mapping[str, str] = field(default_factory=dict)
    unsubscribe_url: str | None = None  # e-mail: the RFC 8058 one-click link
    idempotency_key: str = ""


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; its id is kept to match delivery receipts."""

    provider_message_id: str = ""


@dataclass(frozen=True)
class Retry:
    """A transient failure (5xx, 429, timeout, connection refused): try again later."""

    error: str
    retry_after_seconds: float | None = None


@dataclass(frozen=True)
class Failed:
    """A permanent failure (bad request, bad credentials, invalid number): never retried."""

    error: str


@dataclass(frozen=True)
class Refused:
    """The customer cannot or will not receive on this channel (hard bounce, WeChat 43101)."""

    error: str


Outcome = Accepted | Retry | Failed | Refused


class Provider(Protocol):
    """A channel's adapter to one provider's API."""

    idempotent: bool

    async def send(self, message: Outgoing) -> Outcome:
        """Deliver ``message`` once; never raises for the provider's answers, only classifies them."""
        ...

    async def aclose(self) -> None:
        """Release connections (HTTP pools, SMTP sessions)."""
        ...


MAX_RETRY_DELAY_SECONDS = 6 * 3600.0


def retry_delay(attempt: int, base_seconds: float, retry_after_seconds: float | None) -> float:
    """Seconds until the next try after failed attempt ``attempt`` (1-based): the provider's
    ``Retry-After`` when it gave one, else a doubling backoff from ``base_seconds``, capped at 6 h
    (with the default 30 s and 8 attempts, a message keeps trying for about two hours)."""
    if retry_after_seconds is not None and retry_after_seconds > 0:
        return min(retry_after_seconds, MAX_RETRY_DELAY_SECONDS)
    delay: float = base_seconds * 2.0 ** max(attempt - 1, 0)
    return min(delay, MAX_RETRY_DELAY_SECONDS)
