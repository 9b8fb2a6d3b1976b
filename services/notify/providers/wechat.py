"""Provider ``wechat``: WeChat mini-program subscribe messages through the official HTTPS API.

Facts from developers.weixin.qq.com (getAccessToken, subscribeMessage.send): the access token comes from
``GET {endpoint}/cgi-bin/token?grant_type=client_credential&appid=&secret=`` as ``{"access_token",
"expires_in"}`` (7200 s) and is shared by every caller of the app, so it is cached per app and refreshed
by one task at a time. ``POST {endpoint}/cgi-bin/message/subscribe/send?access_token=`` with ``{"touser",
"template_id", "page"?, "miniprogram_state"?, "data": {key: {"value": v}}}`` answers ``errcode`` 0 with
``msgid``; 40001/42001/40014 mean the token is invalid or expired (fetch a new one and try once more);
43101 means the user refused (or cancelled) the subscription to this template (refused, recorded as
unsubscribed for it); 45009 (quota) and -1 (system busy) are retried; 40003 (bad openid), 40037 (bad
template id) and 47003 (bad template data) fail.

Not idempotent: the API has no idempotency key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.notify.domain.delivery import Accepted, Failed, Outcome, Outgoing, Refused, Retry
from services.notify.providers._http import (
    DEFAULT_TIMEOUT,
    TRANSPORT_ERRORS,
    Answer,
    guard_outcome,
    json_body,
    request,
    short,
    transport_outcome,
)
from services.notify.providers.http_session import SharedSession
from services.notify.providers.ssrf import AddressGuard

TOKEN_INVALID = frozenset({40001, 42001, 40014})
USER_REFUSED = 43101
RETRY_CODES = frozenset({45009, -1})
TOKEN_MARGIN = 300.0  # refresh five minutes before WeChat says the token expires


class TokenError(Exception):
    """The token endpoint did not hand out a token; carries the outcome to report."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


class WeChatProvider:
    """Subscribe messages for one mini-program (``app_id``); ``Outgoing.to`` is the user's openid."""

    idempotent = False

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        endpoint: str,
        http: SharedSession,
        guard: AddressGuard,
        page: str | None = None,
        miniprogram_state: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.base = endpoint.rstrip("/")
        self.page, self.state = page, miniprogram_state
        self.http, self.guard, self.timeout = http, guard, timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _fetch_token(self) -> str:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self.app_secret}
        try:
            response = await request(
                self.http, "GET", f"{self.base}/cgi-bin/token", params=params, timeout_seconds=self.timeout
            )
        except TRANSPORT_ERRORS as exc:
            raise TokenError(transport_outcome(exc)) from exc
        if response.status_code >= 500:
            raise TokenError(Retry(f"wechat token HTTP {response.status_code}"))
        answer = _json(response)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            code = answer.get("errcode")
            text = f"wechat token errcode {code}: {short(str(answer.get('errmsg', response.text)))}"
            raise TokenError(Retry(text) if code in RETRY_CODES else Failed(text))
        expires_in = answer.get("expires_in", 7200)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 7200.0
        self._expires = time.monotonic() + max(60.0, lifetime - TOKEN_MARGIN)
        return token

    async def token(self, *, stale: str | None = None) -> str:
        """The cached token, fetched when missing or expired, or when it is ``stale`` (WeChat refused
        it). Under one lock, so concurrent senders cause one fetch, not one each."""
        async with self._lock:
            if self._token is None or self._token == stale or time.monotonic() >= self._expires:
                self._token = None
                self._token = await self._fetch_token()
            return self._token

    def body(self, message: Outgoing) -> dict[str, Any]:
        """The subscribe message request."""
        document: dict[str, Any] = {
            "touser": message.to,
            "template_id": message.provider_template,
            "data": {key: {"value": value} for key, value in message.provider_params.items()},
        }
        if self.page:
            document["page"] = self.page
        if self.state:
            document["miniprogram_state"] = self.state
        return document

    async def send(self, message: Outgoing) -> Outcome:
        """Send once, refreshing the token and trying once more if WeChat says it is no longer valid."""
        if not message.provider_template:
            return Failed("wechat: the template has no template_id (provider_template)")
        unsafe = await guard_outcome(self.guard, self.base)
        if unsafe is not None:
            return unsafe
        stale: str | None = None
        for _ in range(2):
            try:
                token = await self.token(stale=stale)
            except TokenError as exc:
                return exc.outcome
            try:
                response = await request(
                    self.http,
                    "POST",
                    f"{self.base}/cgi-bin/message/subscribe/send",
                    params={"access_token": token},
                    data=json_body(self.body(message)),
                    headers={"content-type": "application/json"},
                    timeout_seconds=self.timeout,
                )
            except TRANSPORT_ERRORS as exc:
                return transport_outcome(exc)
            if response.status_code >= 500:
                return Retry(f"wechat HTTP {response.status_code}")
            answer = _json(response)
            code = answer.get("errcode", 0 if "msgid" in answer else None)
            if code in TOKEN_INVALID:
                stale = token
                continue
            return classify(code, answer, response.text)
        return Retry("wechat: the access token was refused twice")

    async def aclose(self) -> None:
        """The HTTP session is shared and closed by its owner."""


def _json(response: Answer) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def classify(code: object, answer: dict[str, Any], raw: str) -> Outcome:
    """The outcome of a send's ``errcode`` (token errors are handled by the caller)."""
    if code == 0:
        return Accepted(str(answer.get("msgid", "")))
    text = f"wechat errcode {code}: {short(str(answer.get('errmsg', raw)))}"
    if code == USER_REFUSED:
        return Refused(f"user refused the subscription ({text})")
    if code in RETRY_CODES:
        return Retry(text)
    return Failed(text)
