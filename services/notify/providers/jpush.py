"""Provider ``jpush``: push notifications through JPush (Jiguang) Push API v3.

Facts from docs.jiguang.cn "REST API v3 Push", "HTTP Status Code" and the server overview: ``POST
{endpoint}`` (https://api.jpush.cn/v3/push) with HTTP Basic auth ``appKey:masterSecret``, a JSON body
``{"platform": "all", "audience": {"registration_id": [...]}, "notification": {"alert", "android":
{"title"...}, "ios": {...}}, "options": {"sendno", "apns_production"}}``. Success is HTTP 200 with
``{"sendno", "msg_id"}``; errors carry ``{"error": {"code", "message"}}``: 1004 authentication failed
(401), 1011 no push target for this audience (the device is gone: refused), 2002 API rate limit
exceeded (429, with ``X-Rate-Limit-Reset`` seconds), 5xx are server-side and retried.

Not idempotent: JPush has no idempotency key (``sendno`` is echoed, not deduplicated).
"""

from __future__ import annotations

import base64
import zlib

from services.notify.domain.delivery import Accepted, Failed, Outcome, Outgoing, Refused, Retry
from services.notify.providers._http import (
    DEFAULT_TIMEOUT,
    TRANSPORT_ERRORS,
    Answer,
    guard_outcome,
    json_body,
    request,
    retry_after,
    short,
    transport_outcome,
)
from services.notify.providers.http_session import SharedSession
from services.notify.providers.ssrf import AddressGuard

AUTH_FAILED, NO_AUDIENCE, RATE_LIMITED = 1004, 1011, 2002


class JPushProvider:
    """One push per message to one registration id (``Outgoing.to``)."""

    idempotent = False

    def __init__(
        self,
        *,
        app_key: str,
        master_secret: str,
        endpoint: str,
        apns_production: bool,
        http: SharedSession,
        guard: AddressGuard,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        credentials = base64.b64encode(f"{app_key}:{master_secret}".encode()).decode("ascii")
        self.authorization = f"Basic {credentials}"  # RFC 7617, UTF-8 (aiohttp 4 drops its BasicAuth)
        self.url, self.apns_production = endpoint, apns_production
        self.http, self.guard, self.timeout = http, guard, timeout

    def body(self, message: Outgoing) -> dict[str, object]:
        """The push request; ``sendno`` is a stable number derived from the message id."""
        extras = dict(message.data)
        android: dict[str, object] = {"alert": message.body, "extras": extras}
        ios: dict[str, object] = {"alert": message.body, "extras": extras}
        if message.subject:
            android["title"] = message.subject
        return {
            "platform": "all",
            "audience": {"registration_id": [message.to]},
            "notification": {"alert": message.body, "android": android, "ios": ios},
            "options": {
                "sendno": zlib.crc32(message.message_id.encode()) & 0x7FFFFFFF,
                "apns_production": self.apns_production,
            },
        }

    async def send(self, message: Outgoing) -> Outcome:
        """Push once; never raises for JPush's answer."""
        unsafe = await guard_outcome(self.guard, self.url)
        if unsafe is not None:
            return unsafe
        try:
            response = await request(
                self.http,
                "POST",
                self.url,
                data=json_body(self.body(message)),
                headers={"content-type": "application/json", "authorization": self.authorization},
                timeout_seconds=self.timeout,
            )
        except TRANSPORT_ERRORS as exc:
            return transport_outcome(exc)
        return classify(response)

    async def aclose(self) -> None:
        """The HTTP session is shared and closed by its owner."""


def classify(response: Answer) -> Outcome:
    """JPush's answer by HTTP status and its ``error.code``."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code == 200 and isinstance(answer, dict) and "error" not in answer:
        return Accepted(str(answer.get("msg_id", "")))
    error = answer.get("error") if isinstance(answer, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else response.text
    text = f"jpush HTTP {response.status_code} code {code}: {short(message)}"
    if response.status_code == 429 or code == RATE_LIMITED:
        wait = retry_after(response.headers.get("x-rate-limit-reset") or response.headers.get("retry-after"))
        return Retry(text, wait)
    if response.status_code >= 500:
        return Retry(text)
    if code == NO_AUDIENCE:
        return Refused(text)
    return Failed(text)
