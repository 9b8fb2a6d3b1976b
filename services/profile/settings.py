"""The profile service's settings: the shared service settings plus the keys of personal data."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.profile.domain.passwords import HashParameters
from services.profile.domain.sessions import SessionPolicy
from services.profile.store.pii import PiiCipher, load_pii_keys
from services.runtime.dev_secrets import refuse_development_secret
from services.runtime.settings import RuntimeSettings, ServiceSettings


class ProfileSettings(ServiceSettings):
    """``PATRON_PROFILE_*``: where the profile service listens and how it seals personal data."""

    model_config = SettingsConfigDict(env_prefix="PATRON_PROFILE_", extra="ignore")
    grpc_port: int = 50051
    pii_key: str = Field(
        default="",
        description="base64 of 32 random bytes: AES-256-GCM key for personal data at rest",
    )
    pii_index_key: str = Field(
        default="", description="base64 of 32 random bytes: HMAC key of the blind index"
    )
    pii_key_id: int = Field(default=1, ge=1, le=255, description="id of pii_key, stored with what it seals")
    pii_retired_keys: str = Field(
        default="", description="'<id>:<base64>,...': older keys, still read until `patron rotate-pii` ran"
    )

    idempotency_lease_seconds: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="a pending Idempotency-Key whose request died is released after this; keep it "
        "above the gateway's longest POST (30 s)",
    )
    idempotency_purge_every_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="how often expired Idempotency-Key records are purged"
    )

    # Operators' sessions and passwords (docs/security.md, "Operators and sessions").
    session_idle_seconds: int = Field(
        default=1800, ge=60, le=86_400, description="a session unused this long ends (to within a minute)"
    )
    session_lifetime_seconds: int = Field(
        default=43_200,
        ge=300,
        le=30 * 86_400,
        description="a session ends this long after sign-in, used or not",
    )
    sessions_per_operator: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="open sessions an operator holds; signing in past it ends the oldest",
    )
    password_hash_time_cost: int = Field(default=3, ge=1, le=20, description="Argon2id passes")
    password_hash_memory_kib: int = Field(
        default=65_536, ge=8192, le=1_048_576, description="Argon2id memory per hash, in KiB"
    )
    password_hash_parallelism: int = Field(default=4, ge=1, le=16, description="Argon2id lanes")
    password_hash_concurrency: int = Field(
        default=2, ge=1, le=64, description="hashes computed at once (each takes its memory)"
    )

    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle=timedelta(seconds=self.session_idle_seconds),
            lifetime=timedelta(seconds=self.session_lifetime_seconds),
            max_per_operator=self.sessions_per_operator,
        )

    def hash_parameters(self) -> HashParameters:
        return HashParameters(
            time_cost=self.password_hash_time_cost,
            memory_kib=self.password_hash_memory_kib,
            parallelism=self.password_hash_parallelism,
            max_concurrent=self.password_hash_concurrency,
        )

    def pii_cipher(self, runtime: RuntimeSettings) -> PiiCipher:
        """The cipher of the configured keys, so the service and ``rotate-pii`` seal alike.

        Raises ValueError on unusable keys (or on none, or known development ones, outside
        development). Retired keys are not refused: a deployment that ran on the development keys
        needs them, retired, to re-seal its data under its own (``patron rotate-pii``).
        """
        refuse_development_secret("PATRON_PROFILE_PII_KEY", self.pii_key, runtime)
        refuse_development_secret("PATRON_PROFILE_PII_INDEX_KEY", self.pii_index_key, runtime)
        return load_pii_keys(
            self.pii_key,
            self.pii_index_key,
            allow_development=runtime.allows_development_secrets,
            key_id=self.pii_key_id,
            retired_keys=self.pii_retired_keys,
        )
