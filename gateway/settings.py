"""Gateway configuration (``PATRON_GATEWAY_*``, plus ``PATRON_ADMIN_TOKEN`` as the REST contract names it)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_TOKEN_LENGTH = 24


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_GATEWAY_", extra="ignore", validate_by_name=True)

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_token: str = Field(
        default="", validation_alias=AliasChoices("PATRON_ADMIN_TOKEN", "PATRON_GATEWAY_ADMIN_TOKEN")
    )
    profile_address: str = "127.0.0.1:50051"
    scoring_address: str = "127.0.0.1:50052"
    loyalty_address: str = "127.0.0.1:50053"
    notify_address: str = "127.0.0.1:50054"
    rpc_timeout_seconds: float = Field(default=2.0, gt=0, le=60, description="deadline of each gRPC call")
    health_timeout_seconds: float = Field(default=1.0, gt=0, le=10)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="how long a resolved API key is trusted without asking; clamped to 5 s so that a "
        "revoked or expired key is refused by every replica within 5 s",
    )
    shutdown_grace_seconds: float = Field(default=10.0, gt=0, le=120)

    def service_addresses(self) -> dict[str, str]:
        return {
            "profile": self.profile_address,
            "scoring": self.scoring_address,
            "loyalty": self.loyalty_address,
            "notify": self.notify_address,
        }
