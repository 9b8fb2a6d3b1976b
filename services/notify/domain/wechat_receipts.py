"""WeChat's delivery results for subscribe messages, pushed to the mini program's message-push URL.

Sources: WeChat's message-push guide (developers.weixin.qq.com/miniprogram/dev/framework/server-ability/
message-push.html), its subscribe-message event pages (developers.weixin.qq.com/doc/service/en/guide/
product/subscription_messages/push.html) and the developer community's thread on
``subscribe_msg_sent_event`` and ``MsgID``. Facts: the URL is checked with a
``GET ?signature=&timestamp=&nonce=&echostr=`` answered with ``echostr`` as plain text when the
signature verifies; ``signature`` is the SHA-1 hex of the lexicographically sorted concatenation of
[Token, timestamp, nonce], Token being the 3 to 32 letters or digits set in the WeChat console (our
channel's ``callback_token`` secret). Pushes are POSTs carrying the same three query parameters. After
``subscribeMessage.send`` WeChat pushes the final result as the event ``subscribe_msg_sent_event``
naming the ``MsgID`` the send answered (as ``msgid``), with ``ErrorCode`` (0 delivered) and
``ErrorStatus``; in JSON mode ``{"ToUserName", "FromUserName": openid, "CreateTime", "MsgType":
"event", "Event": "subscribe_msg_sent_event", "SubscribeMsgSentEvent": {"List": {...} | [{...}]}}``
(each ``{"TemplateId", "MsgID", "ErrorCode", "ErrorStatus"}``; a top-level ``List``, the shape of the
JSON samples of the sibling popup event, is read alike). Other events go to the same URL and are
acknowledged without effect. WeChat retries a push until it is answered ``success``.

Only the plaintext JSON mode is read: a safe-mode (encrypted, ``Encrypt``) body is refused with a
message saying so, rather than acknowledged and lost. Timestamps more than five minutes away from our
clock are refused, so a captured push cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from services.notify.domain.receipts import MAX_ERROR, MAX_RECEIPT_BYTES, MAX_RECEIPTS, ProviderReceipt
from services.runtime.errors import InvalidArgument, NotFound, Unauthenticated

SENT_EVENT = "subscribe_msg_sent_event"
REPLY = "success"
"""The body WeChat expects back to stop retrying a push."""
MAX_SKEW_SECONDS = 300
MAX_QUERY_VALUE = 512
QUERY_KEYS = ("signature", "timestamp", "nonce", "echostr")


class WeChatReceiptStore(Protocol):
    async def callback_token(self, tenant_id: uuid.UUID, channel: str) -> str | None:
        """The channel's message-push Token when its provider is ``wechat`` and one is set."""
        ...

    async def apply_provider_receipts(
        self, tenant_id: uuid.UUID, channel: str, provider: str, receipts: Sequence[ProviderReceipt]
    ) -> int: ...


def is_wechat_callback(channel: str, headers: Mapping[str, str]) -> bool:
    """Whether a receipt POST is WeChat's push (signed in the query) rather than a Standard Webhooks
    receipt of the ``http`` provider, which a wechat channel may use instead."""
    return channel == "wechat" and "webhook-signature" not in headers


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's message-push signature: SHA-1 hex of the sorted concatenation of the three values."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()  # noqa: S324


def check_signature(token: str, query: Mapping[str, str], now: float) -> None:
    """Raises Unauthenticated unless the query is signed with ``token`` within MAX_SKEW_SECONDS."""
    given = query.get("signature", "")
    timestamp = query.get("timestamp", "")
    nonce = query.get("nonce", "")
    expected = signature(token, timestamp, nonce)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated("the callback's signature does not verify")
    try:
        stamped = int(timestamp)
    except ValueError:
        raise Unauthenticated("the callback's timestamp is not a number") from None
    if abs(now - stamped) > MAX_SKEW_SECONDS:
        raise Unauthenticated("the callback's timestamp is too old (or ahead)")


def _items(document: Mapping[str, Any]) -> list[Any]:
    nested = document.get("SubscribeMsgSentEvent")
    listed = nested.get("List") if isinstance(nested, Mapping) else document.get("List")
    if listed is None:
        return []
    return listed if isinstance(listed, list) else [listed]


def parse_sent_events(body: bytes) -> list[ProviderReceipt]:
    """The delivery results of a push body keyed by WeChat's MsgID; other events give none.
    InvalidArgument for a body that is not a JSON object or is encrypted (safe mode)."""
    if len(body) > MAX_RECEIPT_BYTES:
        raise InvalidArgument.single("body", f"at most {MAX_RECEIPT_BYTES} bytes")
    try:
        document: Any = json.loads(body)
    except ValueError:
        raise InvalidArgument.single("body", "is not JSON (set the message push to JSON mode)") from None
    if not isinstance(document, dict):
        raise InvalidArgument.single("body", "must be an object")
    if "Encrypt" in document:
        raise InvalidArgument.single("body", "is encrypted: set the message push to plaintext mode")
    if document.get("MsgType") != "event" or document.get("Event") != SENT_EVENT:
        return []
    items = _items(document)
    if len(items) > MAX_RECEIPTS:
        raise InvalidArgument.single("body", f"at most {MAX_RECEIPTS} results")
    receipts: list[ProviderReceipt] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or item.get("MsgID") in (None, ""):
            raise InvalidArgument.single(f"List[{index}].MsgID", "is required")
        code = str(item.get("ErrorCode", "")).strip()
        if code == "0":
            receipts.append(ProviderReceipt(str(item["MsgID"]), "delivered", ""))
        else:
            error = f"wechat {code} {item.get('ErrorStatus', '')}".strip()
            receipts.append(ProviderReceipt(str(item["MsgID"]), "failed", error[:MAX_ERROR]))
    return receipts


class WeChatReceiptDesk:
    """Checks WeChat's pushes against the channel's Token, then applies their delivery results."""

    def __init__(self, store: WeChatReceiptStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def _verified(self, tenant_id: uuid.UUID, channel: str, query: Mapping[str, str]) -> None:
        token = await self._store.callback_token(tenant_id, channel)
        if token is None:
            raise NotFound(f"the {channel} channel takes no WeChat callbacks (no callback_token)")
        check_signature(token, query, self._clock())

    async def verify(self, tenant_id: uuid.UUID, channel: str, query: Mapping[str, str]) -> str:
        """The ``echostr`` to answer WeChat's URL check with, once its signature verifies."""
        await self._verified(tenant_id, channel, query)
        return query.get("echostr", "")

    async def apply(self, tenant_id: uuid.UUID, channel: str, body: bytes, query: Mapping[str, str]) -> int:
        """How many messages the push's results moved (0 for events of other kinds)."""
        await self._verified(tenant_id, channel, query)
        receipts = parse_sent_events(body)
        if not receipts:
            return 0
        return await self._store.apply_provider_receipts(tenant_id, channel, "wechat", receipts)
