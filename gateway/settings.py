"""Gateway configuration (``PATRON_GATEWAY_*``, plus ``PATRON_ADMIN_TOKEN`` as the REST contract names it)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_TOKEN_LENGTH = 24


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_GATEWAY_", extra="ignore", validate_by_name=True)

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    operations_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="0: /metrics, /docs and /openapi.json on the API's port; else on this port only",
    )
    admin_token: str = Field(
        default="", validation_alias=AliasChoices("PATRON_ADMIN_TOKEN", "PATRON_GATEWAY_ADMIN_TOKEN")
    )
    profile_address: str = "127.0.0.1:50051"
    scoring_address: str = "127.0.0.1:50052"
    loyalty_address: str = "127.0.0.1:50053"
    notify_address: str = "127.0.0.1:50054"
    rpc_timeout_seconds: float = Field(default=2.0, gt=0, le=60, description="deadline of each gRPC call")
    customer_360_deadline_seconds: float = Field(
        default=0.25,
        gt=0,
        le=10,
        description="deadline of each section's call in a customer 360; a slower section is degraded",
    )
    health_timeout_seconds: float = Field(default=1.0, gt=0, le=10)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="how long a resolved API key is trusted without asking; clamped to 5 s so that a "
        "revoked or expired key is refused by every replica within 5 s",
    )
    gather_in_flight: int = Field(
        default=4,
        ge=0,
        le=64,
        description="identify and small event calls of one tenant sent to the profile service at once "
        "by this process; calls beyond wait and go together in one service call (0: each alone)",
    )
    shutdown_grace_seconds: float = Field(default=10.0, gt=0, le=120)
    # Rate limits (docs/security.md "Rate limits"): token buckets, a rate per second and a burst each.
    rate_limits_enabled: bool = Field(default=True, description="off only for tests that flood on purpose")
    rate_tenant_per_second: float = Field(default=1000.0, gt=0, le=1_000_000)
    rate_tenant_burst: int = Field(default=2000, ge=1, le=10_000_000)
    rate_key_per_second: float = Field(default=1000.0, gt=0, le=1_000_000)
    rate_key_burst: int = Field(default=2000, ge=1, le=10_000_000)
    rate_export_per_second: float = Field(default=0.5, gt=0, le=1_000_000)
    rate_export_burst: int = Field(default=10, ge=1, le=10_000_000)
    rate_timeline_per_second: float = Field(default=50.0, gt=0, le=1_000_000)
    rate_timeline_burst: int = Field(default=100, ge=1, le=10_000_000)
    rate_listing_per_second: float = Field(default=50.0, gt=0, le=1_000_000)
    rate_listing_burst: int = Field(default=100, ge=1, le=10_000_000)
    rate_scoring_run_per_second: float = Field(default=1 / 60, gt=0, le=1_000_000)
    rate_scoring_run_burst: int = Field(default=5, ge=1, le=10_000_000)
    rate_failed_auth_per_second: float = Field(default=20 / 60, gt=0, le=1_000_000)
    rate_failed_auth_burst: int = Field(default=20, ge=1, le=10_000_000)
    # Failed sign-ins (POST /v1/session answering 401), per account and per client address; always on.
    rate_login_account_per_second: float = Field(default=1 / 60, gt=0, le=1_000_000)
    rate_login_account_burst: int = Field(default=10, ge=1, le=10_000_000)
    rate_login_address_per_second: float = Field(default=1 / 20, gt=0, le=1_000_000)
    rate_login_address_burst: int = Field(default=30, ge=1, le=10_000_000)
    redis_url: str = Field(default="", description="shares the buckets across replicas when set")

    def service_addresses(self) -> dict[str, str]:
        return {
            "profile": self.profile_address,
            "scoring": self.scoring_address,
            "loyalty": self.loyalty_address,
            "notify": self.notify_address,
        }
