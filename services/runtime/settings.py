"""Configuration from the environment, validated when a process starts.

Every service reads ``PATRON_*`` for what all processes share and ``PATRON_<SERVICE>_*`` for its own
settings. A development secret is refused outside development, so a production process cannot start
with a key that is printed in this repository.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class RuntimeSettings(BaseSettings):
    """What every Patron process shares (``PATRON_ENV``, logging)."""

    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    # A process started without PATRON_ENV is a production one: it refuses development secrets and
    # serves no reflection. ``patron up`` (and the tests) say development (test) explicitly.
    env: Environment = "production"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # TLS between the gateway and the services and among the services (services.runtime.grpc_tls,
    # docs/security.md "Configuration and transport"): PEM file paths, all unset for plaintext.
    grpc_tls_cert: str = Field(default="", description="this process's certificate chain (PEM file)")
    grpc_tls_key: str = Field(default="", description="the private key of grpc_tls_cert (PEM file)")
    grpc_tls_ca: str = Field(
        default="", description="the CA bundle that verifies peers (PEM file); unset: the system's roots"
    )
    grpc_tls_client_auth: bool = Field(
        default=False, description="mutual TLS: servers require, clients present, a certificate of the CA"
    )
    grpc_tls_server_name: str = Field(
        default="",
        description="the name clients expect in a server's certificate, instead of the dialled host",
    )
    grpc_tls_disabled: bool = Field(
        default=False, description="acknowledges plaintext gRPC in production (a service mesh encrypts)"
    )

    @property
    def allows_development_secrets(self) -> bool:
        return self.env in ("development", "test")


def asyncpg_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the SQLAlchemy asyncpg dialect (``postgresql+asyncpg://``)."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("must be a postgresql:// URL")


# How PostgreSQL plans the service's prepared statements: ``auto`` (custom plans for the first five
# executions, then generic when it is not dearer), or always one kind.
PlanCacheMode = Literal["auto", "force_generic_plan", "force_custom_plan"]


class ServiceSettings(BaseSettings):
    """Settings each gRPC service has; subclasses set the env prefix and default ports."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(description="PostgreSQL URL of this service's own database")
    grpc_host: str = "0.0.0.0"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535, description="Prometheus port; 0 disables")
    health_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="a plaintext port serving only grpc.health.v1, for probes that cannot speak TLS; 0: none",
    )
    shutdown_grace_seconds: float = Field(default=10.0, gt=0, le=120)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_hot_pool_size: int = Field(
        default=4,
        ge=1,
        le=64,
        description="raw connections for the one-statement hot paths (services.runtime.hot_pool), "
        "apart from the pool above",
    )
    db_check_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    db_plan_cache_mode: PlanCacheMode = Field(
        default="auto",
        description="PostgreSQL's plan_cache_mode for the service's connections (docs/performance.md)",
    )
    max_concurrent_rpcs: int = Field(default=1000, ge=1)
    event_retention_days: float = Field(
        default=7.0, gt=0, le=365, description="how long delivered events stay in this service's outbox"
    )
    parked_retention_days: float = Field(
        default=30.0,
        gt=0,
        le=365,
        description="how long an event a consumer parked is kept for an operator before it is pruned",
    )
    consumer_lease_seconds: float = Field(
        default=6.0, ge=0.5, le=120, description="a dead consumer replica's partitions move after this"
    )
    # Where this service finds the others (for event streams and calls between services).
    profile_address: str = "127.0.0.1:50051"
    scoring_address: str = "127.0.0.1:50052"
    loyalty_address: str = "127.0.0.1:50053"
    notify_address: str = "127.0.0.1:50054"

    def address_of(self, service: str) -> str:
        address: str = getattr(self, f"{service}_address")
        return address

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        return asyncpg_url(value)


class LoyaltySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_LOYALTY_", extra="ignore")
    grpc_port: int = 50053
    # Points moves are writes that wait on the hot accounts' row locks: more of them in flight.
    db_hot_pool_size: int = Field(default=8, ge=1, le=64)


SERVICE_NAMES: tuple[str, ...] = ("profile", "scoring", "loyalty", "notify")

# Services whose settings are only the shared ones under their own prefix and port. A service with
# settings of its own names them in its plug-in module instead (see ``services.runtime.plugins``).
PLAIN_SETTINGS: dict[str, type[ServiceSettings]] = {
    "loyalty": LoyaltySettings,
}
