"""Channel settings: every fault named at once, secrets kept apart, omitted secrets kept on update."""

from __future__ import annotations

from typing import Any

import pytest

from services.notify.domain.channels import (
    DEFAULT_ENDPOINTS,
    ChannelConfig,
    merge_secrets,
    parse_channel,
    public_view,
)
from services.runtime.errors import InvalidArgument

SECRET = "whsec_" + "A" * 40


def faults(channel: str, document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_channel(channel, document)
    return {v.field: v.message for v in caught.value.violations}


def test_smtp_settings_split_public_and_secret() -> None:
    config = parse_channel(
        "email",
        {
            "provider": "smtp",
            "settings": {
                "host": "smtp.example.com",
                "port": 587,
                "username": "shop",
                "password": "s3cret",
                "from": "Shop <news@shop.example>",
                "rate_per_second": 20,
            },
        },
    )
    assert config.provider == "smtp"
    assert config.enabled
    assert config.secrets == {"password": "s3cret"}
    assert "password" not in config.settings
    assert config.settings["starttls"] is True
    assert config.settings["from"] == "Shop <news@shop.example>"
    view = public_view(config)
    assert "s3cret" not in repr(view)
    assert view["secrets_set"] == ["password"]


def test_all_faults_at_once_with_paths() -> None:
    found = faults(
        "email",
        {
            "provider": "smtp",
            "settings": {"host": "bad host!", "port": 70000, "from": "not an address", "colour": "red"},
            "enabled": "yes",
            "extra": 1,
        },
    )
    assert set(found) == {
        "settings.host",
        "settings.port",
        "settings.from",
        "settings.colour",
        "enabled",
        "extra",
    }


def test_provider_must_fit_the_channel() -> None:
    assert "provider" in faults("sms", {"provider": "smtp", "settings": {}})
    assert "channel" in faults("fax", {"provider": "http", "settings": {}})


def test_common_bounds_and_required_fields() -> None:
    found = faults(
        "sms",
        {"provider": "aliyun", "settings": {"rate_per_second": 0, "timeout_seconds": 61}},
    )
    assert set(found) == {
        "settings.access_key_id",
        "settings.sign_name",
        "settings.rate_per_second",
        "settings.timeout_seconds",
    }


def test_defaults_for_endpoints() -> None:
    config = parse_channel("push", {"provider": "jpush", "settings": {"app_key": "k", "master_secret": "m"}})
    assert config.settings["endpoint"] == DEFAULT_ENDPOINTS["jpush"]
    assert config.settings["apns_production"] is False
    wechat = parse_channel(
        "wechat",
        {
            "provider": "wechat",
            "settings": {"app_id": "wx1", "app_secret": "s", "miniprogram_state": "trial"},
        },
    )
    assert wechat.settings["endpoint"] == "https://api.weixin.qq.com"
    assert "settings.miniprogram_state" in faults(
        "wechat", {"provider": "wechat", "settings": {"app_id": "wx1", "miniprogram_state": "live"}}
    )


def test_http_provider_url_and_secret() -> None:
    config = parse_channel(
        "sms", {"provider": "http", "settings": {"url": "https://h.example/x", "secret": SECRET}}
    )
    assert config.secrets == {"secret": SECRET}
    found = faults("push", {"provider": "http", "settings": {"url": "ftp://x", "secret": "plain"}})
    assert set(found) == {"settings.url", "settings.secret"}


def test_tls_and_starttls_exclude_each_other() -> None:
    base = {"host": "smtp.example.com", "port": 465, "from": "a@b.example"}
    assert "settings.tls" in faults(
        "email", {"provider": "smtp", "settings": {**base, "tls": True, "starttls": True}}
    )
    config = parse_channel("email", {"provider": "smtp", "settings": {**base, "tls": True}})
    assert config.settings["tls"] is True
    assert config.settings["starttls"] is False


def test_a_put_without_the_secret_keeps_the_stored_one() -> None:
    stored = ChannelConfig("email", "smtp", {"host": "h", "username": "u"}, {"password": "old"}, True)
    update = parse_channel(
        "email",
        {"provider": "smtp", "settings": {"host": "h", "port": 2525, "username": "u", "from": "a@b.example"}},
    )
    merged = merge_secrets(stored, update)
    assert merged.secrets == {"password": "old"}
    assert merged.settings["port"] == 2525
    replaced = merge_secrets(stored, replace_password(update, "new"))
    assert replaced.secrets == {"password": "new"}


def replace_password(config: ChannelConfig, password: str) -> ChannelConfig:
    return ChannelConfig(config.channel, config.provider, config.settings, {"password": password}, True)


def test_required_secrets_after_merge_and_provider_switch_drops_them() -> None:
    first = parse_channel(
        "sms", {"provider": "aliyun", "settings": {"access_key_id": "id", "sign_name": "S"}}
    )
    with pytest.raises(InvalidArgument) as caught:
        merge_secrets(None, first)
    assert [v.field for v in caught.value.violations] == ["settings.access_key_secret"]
    stored = ChannelConfig("sms", "http", {"url": "https://x.example"}, {"secret": SECRET}, True)
    switched = parse_channel(
        "sms",
        {
            "provider": "aliyun",
            "settings": {"access_key_id": "id", "sign_name": "S", "access_key_secret": "k"},
        },
    )
    assert merge_secrets(stored, switched).secrets == {"access_key_secret": "k"}


def test_smtp_password_needs_a_username() -> None:
    config = parse_channel(
        "email", {"provider": "smtp", "settings": {"host": "h", "password": "p", "from": "a@b.example"}}
    )
    with pytest.raises(InvalidArgument):
        merge_secrets(None, config)
