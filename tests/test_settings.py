"""Configuration is validated at start, and development secrets are refused outside development."""

import sys

import pytest

from gateway.app import resolve_admin_token
from gateway.settings import GatewaySettings
from services.runtime.settings import RuntimeSettings, asyncpg_url
from tests.support import run_command


def test_database_urls_are_normalised_to_asyncpg() -> None:
    assert asyncpg_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert asyncpg_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValueError, match="postgresql"):
        asyncpg_url("mysql://u@h/db")


def test_production_refuses_a_missing_or_short_admin_token() -> None:
    production = RuntimeSettings(env="production")
    with pytest.raises(ValueError, match="PATRON_ADMIN_TOKEN"):
        resolve_admin_token(GatewaySettings.model_validate({"admin_token": ""}), production)
    with pytest.raises(ValueError, match="at least"):
        resolve_admin_token(GatewaySettings.model_validate({"admin_token": "short"}), production)
    token = "x" * 32
    assert resolve_admin_token(GatewaySettings.model_validate({"admin_token": token}), production) == token
    generated = resolve_admin_token(GatewaySettings.model_validate({}), RuntimeSettings(env="development"))
    assert len(generated) >= 24


async def test_a_service_with_bad_settings_refuses_to_start_and_says_why() -> None:
    env = {"PATRON_SCORING_DATABASE_URL": "mysql://nope", "PATH": "/usr/bin:/bin"}
    result = await run_command(sys.executable, "-m", "services.scoring", env=env, limit_seconds=60)
    assert result.returncode != 0
    assert "PATRON_SCORING_DATABASE_URL" in result.stderr


async def test_profile_refuses_development_keys_in_production() -> None:
    env = {
        "PATRON_ENV": "production",
        "PATRON_PROFILE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
        "PATH": "/usr/bin:/bin",
    }
    result = await run_command(sys.executable, "-m", "services.profile", env=env, limit_seconds=60)
    assert result.returncode != 0
    assert "PATRON_PROFILE_PII_KEY" in result.stderr


def test_a_process_started_without_patron_env_is_a_production_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forgetting PATRON_ENV must never leave development secrets or reflection on."""
    monkeypatch.delenv("PATRON_ENV", raising=False)
    runtime = RuntimeSettings()
    assert runtime.env == "production"
    assert not runtime.allows_development_secrets
