"""The six classics themselves: documents, parameters, message copy and coupons (journey_classics.py
explains the model and the decisions).

Copy is written with ``string.Template`` (``$coupon``, ``$exchange_url``) for what is known when the
journey is created, so that Liquid (``{{ coupon.code }}``) stays for what is known per customer.
"""

# ruff: noqa: RUF001 - the copy is Chinese, written with Chinese (full-width) punctuation on purpose

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Any
from urllib.parse import urlsplit

from services.notify.domain.durations import parse_duration
from services.notify.domain.journey_definitions import MAX_DAYS_BEFORE, MAX_REASON, MAX_WAIT, MIN_WAIT

CLASSIC_CHANNELS = ("email", "push", "sms")
GENERIC_COUPON = "专属优惠券"
MAX_URL = 500
_URL_FORBIDDEN = set(" \t\r\n{}<>\"'`\\")


def _channel(value: Any) -> str | None:
    if value in CLASSIC_CHANNELS:
        return None
    return (
        f"must be one of {', '.join(CLASSIC_CHANNELS)} (WeChat needs your own provider templates: "
        "pass templates.<slot>)"
    )


def _wait(value: Any) -> str | None:
    span = parse_duration(value)
    return (
        None if span is not None and MIN_WAIT <= span <= MAX_WAIT else "must be a duration from PT1M to P365D"
    )


def _days_before(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS_BEFORE:
        return None
    return f"must be a whole number from 0 to {MAX_DAYS_BEFORE}"


def _uuid(value: Any) -> str | None:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return "must be an id (UUID)"
    return None if isinstance(value, str) else "must be an id (UUID)"


def _reason(value: Any) -> str | None:
    """The refund reason to match; printed into the message too, so no braces (Liquid's own)."""
    if isinstance(value, str) and value.strip() and len(value) <= MAX_REASON and not {"{", "}"} & set(value):
        return None
    return f"must be text of 1 to {MAX_REASON} characters without braces"


def _url(value: Any) -> str | None:
    """An http(s) link printed as is into a message: no spaces, quotes or braces (which Liquid would
    read as its own), at most ``MAX_URL`` characters."""
    problem = f"must be an http(s) URL of at most {MAX_URL} characters without spaces, quotes or braces"
    if not isinstance(value, str) or len(value) > MAX_URL or _URL_FORBIDDEN & set(value):
        return problem
    try:
        parts = urlsplit(value)
    except ValueError:
        return problem
    return None if parts.scheme in ("http", "https") and parts.hostname else problem


@dataclass(frozen=True)
class Parameter:
    """A value the merchant may set; ``check`` answers what is wrong with a given value, or None."""

    default: Any
    check: Callable[[Any], str | None]
    required: bool = False


@dataclass(frozen=True)
class CouponSpec:
    """A coupon template a classic creates unless the merchant names their own."""

    slot: str
    label: str
    kind: str
    valid_days: int
    per_customer_limit: int
    discount_minor: int | None = None
    threshold_minor: int | None = None
    percent_off: int | None = None

    def describe(self) -> str:
        """The coupon as a customer reads it: ``满 100 减 15 元券`` and how long it is valid."""
        if self.kind == "threshold":
            what = f"满 {_yuan(self.threshold_minor)} 减 {_yuan(self.discount_minor)} 元券"
        elif self.kind == "percent":
            what = f"{(100 - (self.percent_off or 0)) / 10:g} 折券"
        else:
            what = f"{_yuan(self.discount_minor)} 元无门槛券"
        return f"{what}（{self.valid_days} 天内有效）"


def _yuan(minor: int | None) -> str:
    return f"{(minor or 0) / 100:g}"


@dataclass(frozen=True)
class MessageSlot:
    """A message template a classic creates unless the merchant names their own. ``$coupon`` in the
    copy describes the coupon of ``coupon_slot`` (generic when the merchant gave their own coupon)."""

    slot: str
    label: str
    purpose: str
    subject: str
    body: str
    coupon_slot: str | None = None
    words: Callable[[Mapping[str, Any]], dict[str, str]] = field(default=lambda _: {})

    def _values(self, parameters: Mapping[str, Any], coupons: Mapping[str, str]) -> dict[str, str]:
        values = {key: str(value) for key, value in parameters.items() if value is not None}
        values["coupon"] = coupons.get(self.coupon_slot or "", GENERIC_COUPON)
        return {**values, **self.words(parameters)}

    def subject_text(self, parameters: Mapping[str, Any]) -> str:
        return Template(self.subject).substitute(self._values(parameters, {}))

    def body_text(self, parameters: Mapping[str, Any], coupons: Mapping[str, str]) -> str:
        return Template(self.body).substitute(self._values(parameters, coupons))


@dataclass(frozen=True)
class Classic:
    """One classic: what the catalogue shows, and ``build`` (parameters → document with slots)."""

    name: str
    title: Mapping[str, str]
    description: Mapping[str, str]
    parameters: Mapping[str, Parameter]
    messages: tuple[MessageSlot, ...]
    coupons: tuple[CouponSpec, ...]
    build: Callable[[Mapping[str, Any]], dict[str, Any]]


def _send(slot: str) -> dict[str, Any]:
    return {"send": {"template_id": f"slot:{slot}"}}


def _coupon(slot: str) -> dict[str, Any]:
    return {"issue_coupon": {"template_id": f"slot:{slot}"}}


_ORDERED = {"since_trigger": {"order": True}}
_CHANNEL = Parameter("email", _channel)


def _abandoned_cart(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "购物车挽回",
        "trigger": {"event": "add_to_cart"},
        "steps": [
            {"wait": p["wait"]},
            {"if": _ORDERED, "then": [{"exit": True}], "else": [_coupon("coupon"), _send("reminder")]},
        ],
        "goal": {"order": "paid"},
        "reentry": "P7D",
    }


def _first_order_thanks(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "首单感谢",
        "trigger": {"order": "paid", "first": True},
        "steps": [_send("thanks"), {"wait": p["wait"]}, _coupon("repeat_coupon"), _send("repeat_offer")],
        "reentry": "never",
    }


def _birthday(p: Mapping[str, Any]) -> dict[str, Any]:
    fixed = p.get("coupon_template_id")
    gift = {"template_id": fixed} if fixed else {"tier_benefit": "birthday"}
    return {
        "name": "生日礼遇",
        "trigger": {"date": "birthday", "days_before": p["days_before"]},
        "steps": [{"issue_coupon": gift}, _send("greeting")],
        "reentry": "P300D",
    }


def _win_back(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "沉睡唤回",
        "trigger": {"segment_entered": p["segment_id"]},
        "steps": [
            _send("miss_you"),
            {"wait": p["wait"]},
            {"if": _ORDERED, "then": [{"exit": True}], "else": [_coupon("big_coupon"), _send("last_offer")]},
        ],
        "goal": {"order": "paid"},
        "reentry": "P180D",
    }


def _tier_upgraded(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "升级祝贺",
        "trigger": {"tier": "upgraded"},
        "steps": [_send("congrats")],
        "reentry": "PT1H",
    }


def _wrong_size_return(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "尺码不符退货关怀",
        "trigger": {"refund": {"reason": p["reason"]}},
        "steps": [_send("size_guide")],
        "reentry": "P30D",
    }


def _birthday_words(p: Mapping[str, Any]) -> dict[str, str]:
    soon = "今天是您的生日" if p.get("days_before") == 0 else "您的生日就快到了"
    return {"soon": soon}


_CLASSICS = (
    Classic(
        "abandoned_cart",
        {"zh": "购物车挽回", "en": "Abandoned cart"},
        {
            "zh": "加购后 24 小时内未下单：提醒库存紧张并送一张 5 元无门槛券；期间下单即结束。",
            "en": "Added to cart and no order within 24 h: a low-stock reminder with a 5-yuan coupon; "
            "an order meanwhile ends the journey.",
        },
        {"channel": _CHANNEL, "wait": Parameter("PT24H", _wait)},
        (
            MessageSlot(
                "reminder",
                "库存提醒",
                "marketing",
                "您购物车里的商品库存紧张",
                "您好！您加入购物车的商品库存紧张，可能很快就会售罄。\n\n"
                "我们为您准备了一张$coupon，券码：{{ coupon.code }}，下单时输入即可使用。\n\n"
                "如已不需要，请忽略本消息。",
                coupon_slot="coupon",
            ),
        ),
        (CouponSpec("coupon", "5 元无门槛券", "no_threshold", 7, 100, discount_minor=500),),
        _abandoned_cart,
    ),
    Classic(
        "first_order_thanks",
        {"zh": "首单感谢", "en": "First order thank-you"},
        {
            "zh": "首单支付后立即致谢；7 天后送一张复购券。",
            "en": "Right after the first paid order a thank-you; 7 days later a repeat-purchase coupon.",
        },
        {"channel": _CHANNEL, "wait": Parameter("P7D", _wait)},
        (
            MessageSlot(
                "thanks",
                "首单致谢",
                "marketing",
                "感谢您的第一笔订单",
                "您好！感谢您在本店完成第一笔订单，我们会用心为您准备。\n\n"
                "收到商品后如有任何问题，欢迎随时联系我们。",
            ),
            MessageSlot(
                "repeat_offer",
                "复购优惠",
                "marketing",
                "送您一张回购优惠券",
                "您好！感谢您的支持，送您一张$coupon，券码：{{ coupon.code }}，下次购物时使用。",
                coupon_slot="repeat_coupon",
            ),
        ),
        (
            CouponSpec(
                "repeat_coupon", "复购券", "threshold", 30, 1, discount_minor=1500, threshold_minor=10000
            ),
        ),
        _first_order_thanks,
    ),
    Classic(
        "birthday",
        {"zh": "生日礼遇", "en": "Birthday"},
        {
            "zh": "生日前 3 天（按顾客时区）送上会员等级的生日礼券和祝福；每年一次。",
            "en": "Three days before the birthday (in the customer's time zone) the tier's birthday "
            "coupon with a greeting; once a year.",
        },
        {
            "channel": _CHANNEL,
            "days_before": Parameter(3, _days_before),
            "coupon_template_id": Parameter(None, _uuid),
        },
        (
            MessageSlot(
                "greeting",
                "生日祝福",
                "marketing",
                "生日快乐！送您一份生日礼",
                "您好！$soon，提前祝您生日快乐！\n\n"
                "送您一份生日礼券，券码：{{ coupon.code }}，愿您挑到喜欢的礼物。",
                words=_birthday_words,
            ),
        ),
        (),
        _birthday,
    ),
    Classic(
        "win_back",
        {"zh": "沉睡唤回", "en": "Win-back"},
        {
            "zh": "顾客进入您指定的分群（如“30 天未到访”）时发送想念问候；再过 60 天仍未下单，"
            "送一张大额券，然后结束。",
            "en": "When a customer enters the segment you name (e.g. no visit for 30 days): a "
            "we-miss-you message; 60 days later, still no order: one big coupon, then stop.",
        },
        {"channel": _CHANNEL, "segment_id": Parameter(None, _uuid, True), "wait": Parameter("P60D", _wait)},
        (
            MessageSlot(
                "miss_you",
                "想念您",
                "marketing",
                "好久不见，我们想念您",
                "您好！好久没见到您了。店里上新了不少好物，欢迎回来看看。",
            ),
            MessageSlot(
                "last_offer",
                "回归大礼",
                "marketing",
                "一份回归大礼，只为您准备",
                "您好！为欢迎您回来，特别送上一张$coupon，券码：{{ coupon.code }}。期待您的光临。",
                coupon_slot="big_coupon",
            ),
        ),
        (
            CouponSpec(
                "big_coupon", "回归大额券", "threshold", 14, 10, discount_minor=5000, threshold_minor=20000
            ),
        ),
        _win_back,
    ),
    Classic(
        "tier_upgraded",
        {"zh": "升级祝贺", "en": "Tier upgraded"},
        {
            "zh": "会员升级时发送祝贺，并列出新等级的权益。",
            "en": "On a tier upgrade: congratulations with the new tier's benefits.",
        },
        {"channel": _CHANNEL},
        (
            MessageSlot(
                "congrats",
                "升级祝贺",
                "marketing",
                "恭喜您升级为{{ loyalty.tier }}",
                "您好！恭喜您升级为{{ loyalty.tier }}！\n\n您的新权益：{{ data.benefits }}\n\n"
                "感谢您一直以来的支持。",
            ),
        ),
        (),
        _tier_upgraded,
    ),
    Classic(
        "wrong_size_return",
        {"zh": "尺码不符退货关怀", "en": "Wrong-size return"},
        {
            "zh": "因“尺寸不符”退货时，发送尺码指南和同款换尺码的链接。",
            "en": "On a return for the wrong size: the size guide and a link to the same item in "
            "another size.",
        },
        {
            "channel": _CHANNEL,
            "reason": Parameter("尺寸不符", _reason),
            "size_guide_url": Parameter("https://shop.example/size-guide", _url),
            "exchange_url": Parameter("https://shop.example/exchange", _url),
        },
        (
            MessageSlot(
                "size_guide",
                "尺码指南",
                "service",
                "关于您的退货：尺码指南与换货",
                "您好！我们收到了您订单 {{ data.order_id }} 因“$reason”的退货，很抱歉商品不合身。\n\n"
                "尺码指南：$size_guide_url\n同款换其他尺码：$exchange_url\n\n"
                "选好合适的尺码后，我们会尽快为您安排。",
            ),
        ),
        (),
        _wrong_size_return,
    ),
)

CLASSICS: dict[str, Classic] = {classic.name: classic for classic in _CLASSICS}
