"""A tenant's channel settings (``PUT /v1/notify/channels/{channel}``): which provider, how to reach it.

Every channel can go through the generic ``http`` provider, and through one real provider of its own
(SMTP for e-mail, Aliyun SMS, JPush, WeChat subscribe messages). The document is checked here, all
faults at once with their paths (``settings.port``), so an operator fixes the form in one round.

Secrets (the SMTP password, the signing secret, API secrets) are kept apart from the public settings:
the store seals them at rest and :func:`public_view` never shows them, only which ones are set. A PUT
that omits a secret keeps the stored one (:func:`merge_secrets`), so an operator can change the port
without retyping the password; sending a new value replaces it. Switching provider drops the old
provider's secrets. Which URLs may be called (SSRF) is decided again right before each request by the
provider layer's guard; here the URL only has to be a well-formed absolute http(s) URL.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from services.runtime.errors import FieldViolation, InvalidArgument

PROVIDERS_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "email": ("smtp", "http"),
    "sms": ("aliyun", "http"),
    "push": ("jpush", "http"),
    "wechat": ("wechat", "http"),
}
SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "smtp": ("password",),
    "http": ("secret",),
    "aliyun": ("access_key_secret",),
    "jpush": ("master_secret",),
    "wechat": ("app_secret", "callback_token"),
}
REQUIRED_SECRETS: dict[str, tuple[str, ...]] = {
    "aliyun": ("access_key_secret",),
    "jpush": ("master_secret",),
    "wechat": ("app_secret",),
}
"""Secrets without which the provider cannot work; checked after merging with the stored ones."""

DEFAULT_ENDPOINTS = {
    "aliyun": "https://dysmsapi.aliyuncs.com",
    "jpush": "https://api.jpush.cn/v3/push",
    "wechat": "https://api.weixin.qq.com",
}
MINIPROGRAM_STATES = ("developer", "trial", "formal")
MAX_TEXT = 255
MAX_URL = 2048

_CALLBACK_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ChannelConfig:
    """One channel's provider and settings; ``secrets`` only ever leaves the process sealed."""

    channel: str
    provider: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    enabled: bool = True


Check = Callable[[Any], tuple[Any, str | None]]


def _text(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value.strip():
        return None, "must be a non-empty string"
    if len(value) > MAX_TEXT or any(ord(ch) < 32 for ch in value):
        return None, f"must be at most {MAX_TEXT} characters, on one line"
    return value, None


def _host(value: Any) -> tuple[Any, str | None]:
    ok = isinstance(value, str) and _HOST.match(value) is not None
    return (value, None) if ok else (None, "must be a host name or address")


def _port(value: Any) -> tuple[Any, str | None]:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    return (value, None) if ok else (None, "must be a port number from 1 to 65535")


def _bool(value: Any) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, bool) else (None, "must be true or false")


def _url(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or len(value) > MAX_URL or any(ch.isspace() for ch in value):
        return None, f"must be an absolute http(s) URL of at most {MAX_URL} characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None, "must be an absolute http(s) URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "must be an absolute http(s) URL"
    if parts.username is not None:
        return None, "must not carry credentials"
    return value, None


def _sender(value: Any) -> tuple[Any, str | None]:
    text, fault = _text(value)
    if fault:
        return None, "must be an e-mail address, optionally with a name (Shop <news@shop.example>)"
    _, address = parseaddr(text)
    if not _ADDRESS.match(address):
        return None, "must be an e-mail address, optionally with a name (Shop <news@shop.example>)"
    return text, None


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        return (value, None) if ok else (None, f"must be a number from {low:g} to {high:g}")

    return check


def _state(value: Any) -> tuple[Any, str | None]:
    ok = value in MINIPROGRAM_STATES
    return (value, None) if ok else (None, f"must be one of {', '.join(MINIPROGRAM_STATES)}")


def _callback_token(value: Any) -> tuple[Any, str | None]:
    """WeChat's message-push Token: 3 to 32 letters or digits, as its console requires."""
    ok = isinstance(value, str) and _CALLBACK_TOKEN.match(value) is not None
    return (value, None) if ok else (None, "must be 3 to 32 letters or digits (WeChat's message-push Token)")


def _webhook_secret(value: Any) -> tuple[Any, str | None]:
    fault = "must be a Standard Webhooks secret: whsec_ + base64 of 24 to 64 bytes"
    if not isinstance(value, str) or not value.startswith("whsec_"):
        return None, fault
    try:
        raw = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return None, fault
    return (value, None) if 24 <= len(raw) <= 64 else (None, fault)


MAX_CA_PEM = 20_000


def _ca_pem(value: Any) -> tuple[Any, str | None]:
    ok = (
        isinstance(value, str)
        and len(value) <= MAX_CA_PEM
        and value.strip().startswith("-----BEGIN CERTIFICATE-----")
        and value.strip().endswith("-----END CERTIFICATE-----")
    )
    fault = f"must be PEM certificates (at most {MAX_CA_PEM} characters) to trust for this server's TLS"
    if not ok:
        return None, fault
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError):
        return None, fault
    return value, None


_COMMON: dict[str, tuple[Check, bool, Any]] = {
    "rate_per_second": (_number(1, 10_000), False, None),
    "timeout_seconds": (_number(0.5, 60), False, None),
}
# key -> (check, required, default); a default of None means "absent unless given".
_FIELDS: dict[str, dict[str, tuple[Check, bool, Any]]] = {
    "smtp": {
        "host": (_host, True, None),
        "port": (_port, False, 587),
        "username": (_text, False, None),
        "password": (_text, False, None),
        "starttls": (_bool, False, True),
        "tls": (_bool, False, False),
        "from": (_sender, True, None),
        # A private mail relay's own certificate authority (instead of the system's trust store).
        "ca_pem": (_ca_pem, False, None),
    },
    "http": {"url": (_url, True, None), "secret": (_webhook_secret, False, None)},
    "aliyun": {
        "access_key_id": (_text, True, None),
        "access_key_secret": (_text, False, None),
        "sign_name": (_text, True, None),
        "endpoint": (_url, False, DEFAULT_ENDPOINTS["aliyun"]),
    },
    "jpush": {
        "app_key": (_text, True, None),
        "master_secret": (_text, False, None),
        "endpoint": (_url, False, DEFAULT_ENDPOINTS["jpush"]),
        "apns_production": (_bool, False, False),
    },
    "wechat": {
        "app_id": (_text, True, None),
        "app_secret": (_text, False, None),
        "endpoint": (_url, False, DEFAULT_ENDPOINTS["wechat"]),
        "page": (_text, False, None),
        "miniprogram_state": (_state, False, None),
        # The Token of the mini program's message push: signs WeChat's delivery-result callbacks.
        "callback_token": (_callback_token, False, None),
    },
}


def parse_channel(channel: str, document: Mapping[str, Any]) -> ChannelConfig:
    """The channel's config from the API body ``{"provider", "settings", "enabled"?}``; raises
    InvalidArgument naming every fault (``provider``, ``settings.port``, ``settings.colour``)."""
    if channel not in PROVIDERS_BY_CHANNEL:
        raise InvalidArgument.single("channel", f"must be one of {', '.join(PROVIDERS_BY_CHANNEL)}")
    if not isinstance(document, Mapping):
        raise InvalidArgument.single("channel", "must be an object")
    faults: list[FieldViolation] = []
    for key in sorted(set(document) - {"provider", "settings", "enabled"}):
        faults.append(FieldViolation(key, "is not a channel field"))
    provider = document.get("provider")
    allowed = PROVIDERS_BY_CHANNEL[channel]
    if provider not in allowed:
        faults.append(FieldViolation("provider", f"must be one of {', '.join(allowed)} for {channel}"))
    enabled = document.get("enabled", True)
    if not isinstance(enabled, bool):
        faults.append(FieldViolation("enabled", "must be true or false"))
    raw = document.get("settings", {})
    if not isinstance(raw, Mapping):
        faults.append(FieldViolation("settings", "must be an object"))
        raw = {}
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    if provider in allowed:
        fields = {**_FIELDS[provider], **_COMMON}
        for key in sorted(set(raw) - set(fields), key=str):
            faults.append(FieldViolation(f"settings.{key}", f"is not a setting of provider {provider}"))
        for key, (check, required, default) in fields.items():
            if key not in raw or raw[key] is None:
                if required:
                    faults.append(FieldViolation(f"settings.{key}", "is required"))
                elif default is not None:
                    settings[key] = default
                continue
            value, fault = check(raw[key])
            if fault is not None:
                faults.append(FieldViolation(f"settings.{key}", fault))
            elif key in SECRET_KEYS[provider]:
                secrets[key] = value
            else:
                settings[key] = value
        if provider == "smtp" and settings.get("tls") and raw.get("starttls") is True:
            faults.append(FieldViolation("settings.tls", "implicit TLS and starttls exclude each other"))
    if faults:
        raise InvalidArgument(faults)
    if provider == "smtp" and settings.get("tls"):
        settings["starttls"] = False  # implicit TLS (port 465) already encrypts the session
    return ChannelConfig(channel, str(provider), settings, secrets, bool(enabled))


def merge_secrets(old: ChannelConfig | None, new: ChannelConfig) -> ChannelConfig:
    """``new`` with the stored secrets it omitted (same provider only); raises InvalidArgument when a
    secret the provider needs is in neither, or an SMTP password has no username to go with it."""
    kept = dict(old.secrets) if old is not None and old.provider == new.provider else {}
    merged = replace(new, secrets={**kept, **new.secrets})
    faults = [
        FieldViolation(f"settings.{key}", "is required")
        for key in REQUIRED_SECRETS.get(merged.provider, ())
        if not merged.secrets.get(key)
    ]
    if merged.provider == "smtp" and merged.secrets.get("password") and not merged.settings.get("username"):
        faults.append(FieldViolation("settings.username", "is required with a password"))
    if faults:
        raise InvalidArgument(faults)
    return merged


def public_view(config: ChannelConfig) -> dict[str, Any]:
    """What the API returns: the settings without any secret, and the names of the secrets that are set
    (so the operator sees the password is stored without ever seeing it)."""
    return {
        "channel": config.channel,
        "provider": config.provider,
        "settings": dict(config.settings),
        "secrets_set": sorted(key for key, value in config.secrets.items() if value),
        "enabled": config.enabled,
    }
