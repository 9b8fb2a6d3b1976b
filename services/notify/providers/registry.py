"""From a channel's stored config to a ready provider, and each provider's default rate.

The defaults are what the providers document or tolerate out of the box, used by the worker's token
bucket when the tenant set no ``rate_per_second``: Aliyun SMS allows a few thousand calls a second per
account for SendSms but throttles per number; JPush's free tier allows 600 pushes a minute; WeChat's
subscribe send is limited per day rather than per second; an SMTP relay of a small shop rarely takes
more than a few dozen messages a second; the generic endpoint is the merchant's own server.
"""

from __future__ import annotations

import ssl

from services.notify.domain.channels import DEFAULT_ENDPOINTS, ChannelConfig
from services.notify.domain.delivery import Provider
from services.notify.providers._http import DEFAULT_TIMEOUT
from services.notify.providers.aliyun_sms import AliyunSmsProvider
from services.notify.providers.http_generic import HttpProvider
from services.notify.providers.http_session import SharedSession
from services.notify.providers.jpush import JPushProvider
from services.notify.providers.smtp import SmtpProvider
from services.notify.providers.ssrf import AddressGuard
from services.notify.providers.wechat import WeChatProvider

DEFAULT_RATE_PER_SECOND: dict[str, float] = {
    "smtp": 20.0,
    "http": 500.0,
    "aliyun": 100.0,
    "jpush": 10.0,
    "wechat": 50.0,
}


def rate_per_second(config: ChannelConfig) -> float:
    """The tenant's ``rate_per_second`` for this channel, else the provider's default."""
    rate = config.settings.get("rate_per_second")
    return float(rate) if isinstance(rate, int | float) else DEFAULT_RATE_PER_SECOND[config.provider]


def build_provider(config: ChannelConfig, *, http: SharedSession, guard: AddressGuard) -> Provider:
    """The adapter for ``config``; ``http`` and ``guard`` are shared by every HTTP-based provider."""
    settings, secrets = config.settings, config.secrets
    timeout = float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT)
    if config.provider == "http":
        return HttpProvider(
            url=settings["url"], secret=secrets.get("secret"), http=http, guard=guard, timeout=timeout
        )
    if config.provider == "smtp":
        return SmtpProvider(
            host=settings["host"],
            port=int(settings.get("port", 587)),
            sender=settings["from"],
            username=settings.get("username"),
            password=secrets.get("password"),
            starttls=bool(settings.get("starttls", True)),
            tls=bool(settings.get("tls", False)),
            timeout=timeout,
            tls_context=ssl.create_default_context(cadata=settings["ca_pem"])
            if settings.get("ca_pem")
            else None,
            guard=guard,
        )
    if config.provider == "aliyun":
        return AliyunSmsProvider(
            access_key_id=settings["access_key_id"],
            access_key_secret=secrets["access_key_secret"],
            sign_name=settings["sign_name"],
            endpoint=settings.get("endpoint", DEFAULT_ENDPOINTS["aliyun"]),
            http=http,
            guard=guard,
            timeout=timeout,
        )
    if config.provider == "jpush":
        return JPushProvider(
            app_key=settings["app_key"],
            master_secret=secrets["master_secret"],
            endpoint=settings.get("endpoint", DEFAULT_ENDPOINTS["jpush"]),
            apns_production=bool(settings.get("apns_production", False)),
            http=http,
            guard=guard,
            timeout=timeout,
        )
    if config.provider == "wechat":
        return WeChatProvider(
            app_id=settings["app_id"],
            app_secret=secrets["app_secret"],
            endpoint=settings.get("endpoint", DEFAULT_ENDPOINTS["wechat"]),
            page=settings.get("page"),
            miniprogram_state=settings.get("miniprogram_state"),
            http=http,
            guard=guard,
            timeout=timeout,
        )
    raise ValueError(f"no provider {config.provider!r}")
