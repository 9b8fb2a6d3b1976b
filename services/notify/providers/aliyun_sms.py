"""Provider ``aliyun``: SMS through Aliyun's SendSms (dysmsapi, API version 2017-05-25).

Request (facts from help.aliyun.com "Signature mechanism" for RPC APIs, document 28839 / 315526, and the
SendSms reference): a form-encoded POST to ``{endpoint}/`` with the common parameters ``AccessKeyId``,
``Action=SendSms``, ``Format=JSON``, ``SignatureMethod=HMAC-SHA1``, ``SignatureNonce`` (unique per
request), ``SignatureVersion=1.0``, ``Timestamp`` (ISO 8601 UTC), ``Version=2017-05-25`` and the action's
``PhoneNumbers``, ``SignName``, ``TemplateCode``, ``TemplateParam`` (JSON), ``OutId``. The signature:
percent-encode names and values (RFC 3986 unreserved characters kept, space as %20), sort by name, join
``k=v`` with ``&``, StringToSign = ``POST&%2F&`` + percent-encode(that), Signature = base64(HMAC-SHA1(
AccessKeySecret + "&", StringToSign)).

Answers (their documented codes, help.aliyun.com document 101346/180674): ``Code: "OK"`` with ``BizId``
is accepted; flow control (``isv.BUSINESS_LIMIT_CONTROL``, ``Throttling.*``, daily/monthly limits),
``isp.*`` system errors, HTTP 5xx and timeouts are retried; bad numbers, templates, signatures,
credentials and account states fail. The synchronous answer has no "this number is on a blacklist"
verdict: ``isv.BLACK_KEY_CONTROL_LIMIT`` is content (keyword) control, a permanent failure of that text;
carriers' blacklists (W-BLACK, MBBLACK...) arrive later in delivery receipts, matched by ``OutId``.

Not idempotent: SendSms has no idempotency key (``OutId`` only labels receipts), so a request that timed
out may have been sent; the worker records such a crash as ``outcome_unknown`` instead of asking again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from services.notify.domain.delivery import Accepted, Failed, Outcome, Outgoing, Retry
from services.notify.providers._http import (
    DEFAULT_TIMEOUT,
    TRANSPORT_ERRORS,
    Answer,
    guard_outcome,
    request,
    short,
    transport_outcome,
)
from services.notify.providers.http_session import SharedSession
from services.notify.providers.ssrf import AddressGuard

RETRY_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.DAY_LIMIT_CONTROL",
        "isv.MONTH_LIMIT_CONTROL",
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
    }
)
LIMIT_WAIT = {"isv.DAY_LIMIT_CONTROL": 3600.0, "isv.MONTH_LIMIT_CONTROL": 6 * 3600.0}


def percent_encode(text: str) -> str:
    """Aliyun's encoding: UTF-8, every byte but A-Z a-z 0-9 - _ . ~ as %XY (so space is %20, * is %2A)."""
    return quote(text, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&`` + the encoded, sorted, ``&``-joined parameters (without ``Signature``)."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(secret: str, method: str, params: Mapping[str, str]) -> str:
    """The RPC v1 signature of ``params``."""
    digest = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class AliyunSmsProvider:
    """One SendSms call per message; see the module docstring for the request and its classification."""

    idempotent = False

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        endpoint: str,
        http: SharedSession,
        guard: AddressGuard,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.access_key_id, self.secret, self.sign_name = access_key_id, access_key_secret, sign_name
        self.url = endpoint.rstrip("/") + "/"
        self.http, self.guard, self.timeout = http, guard, timeout

    def params(
        self, message: Outgoing, *, now: datetime | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """The signed form of one SendSms request."""
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            "PhoneNumbers": message.to,
            "SignName": self.sign_name,
            "TemplateCode": message.provider_template or "",
            "OutId": message.message_id,
        }
        if message.provider_params:
            params["TemplateParam"] = json.dumps(dict(message.provider_params), ensure_ascii=False)
        params["Signature"] = sign(self.secret, "POST", params)
        return params

    async def send(self, message: Outgoing) -> Outcome:
        """Send one SMS; never raises for Aliyun's answer."""
        if not message.provider_template:
            return Failed("aliyun: the template has no TemplateCode (provider_template)")
        unsafe = await guard_outcome(self.guard, self.url)
        if unsafe is not None:
            return unsafe
        try:
            response = await request(
                self.http, "POST", self.url, data=self.params(message), timeout_seconds=self.timeout
            )
        except TRANSPORT_ERRORS as exc:
            return transport_outcome(exc)
        return classify(response)

    async def aclose(self) -> None:
        """The HTTP session is shared and closed by its owner."""


def classify(response: Answer) -> Outcome:
    """Aliyun's answer by its ``Code`` first (it is set on 200 and on 4xx alike), then the status."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    code = str(answer.get("Code", "")) if isinstance(answer, dict) else ""
    said = str(answer.get("Message", "")) if isinstance(answer, dict) else response.text
    text = f"aliyun HTTP {response.status_code} {code}: {short(said)}"
    if code == "OK" and response.status_code == 200 and isinstance(answer, dict):
        return Accepted(str(answer.get("BizId", "")))
    if code in RETRY_CODES or code.startswith(("isp.", "Throttling")) or response.status_code >= 500:
        return Retry(text, LIMIT_WAIT.get(code))
    if response.status_code == 429:
        return Retry(text)
    return Failed(text)
