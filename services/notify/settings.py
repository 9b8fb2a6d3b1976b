"""The notify service's settings: the shared ones plus its keys, its public address and its worker."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from services.notify.domain.webhooks import DISABLE_AFTER, RETRY_SCHEDULE
from services.runtime.dev_secrets import refuse_development_secret
from services.runtime.settings import RuntimeSettings, ServiceSettings

_DEVELOPMENT_SEED = b"patron-development-only-notify-seed"


class NotifySettings(ServiceSettings):
    """``PATRON_NOTIFY_*``: where notify listens, how it seals and signs, how its workers pace."""

    model_config = SettingsConfigDict(env_prefix="PATRON_NOTIFY_", extra="ignore")
    grpc_port: int = 50054
    secret_key: str = Field(
        default="",
        description="base64 of 32 random bytes: AES-256-GCM key sealing provider and webhook secrets",
    )
    link_key: str = Field(
        default="", description="base64 of 32 random bytes: HMAC key of open, click and unsubscribe links"
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        validation_alias=AliasChoices("PATRON_NOTIFY_PUBLIC_URL", "PATRON_PUBLIC_URL"),
        description="the gateway's public base URL, which tracking and unsubscribe links point at "
        "(PATRON_NOTIFY_PUBLIC_URL, else PATRON_PUBLIC_URL, which patron up sets)",
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="comma-separated host names that webhooks and http providers may reach "
        "even when they resolve to a private address",
    )
    webhook_retry_seconds: tuple[float, ...] = Field(
        default=RETRY_SCHEDULE,
        min_length=1,
        max_length=20,
        description="seconds before each webhook attempt: the first after the event, each later one "
        "after the previous failure (default: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)",
    )
    webhook_disable_after: int = Field(
        default=DISABLE_AFTER,
        ge=1,
        le=1_000,
        description="exhausted deliveries in a row that disable a webhook",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="one webhook request's limit"
    )
    webhook_batch: int = Field(default=200, ge=1, le=2_000, description="deliveries one webhook round claims")
    webhook_idle_seconds: float = Field(default=0.5, gt=0, le=60, description="an idle webhook worker's wait")
    delivery_batch: int = Field(default=500, ge=1, le=5_000, description="messages one worker round claims")
    delivery_loops: int = Field(
        default=2, ge=1, le=16, description="round loops per process, overlapping claims with sends"
    )
    delivery_concurrency: int = Field(
        default=512, ge=1, le=5_000, description="provider calls in flight at once per notify process"
    )
    delivery_lease_seconds: float = Field(
        default=60.0, ge=5, le=3_600, description="a claimed message is another worker's after this"
    )
    delivery_idle_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how long an idle worker waits before looking again"
    )
    retry_base_seconds: float = Field(
        default=30.0, gt=0, le=3_600, description="the first retry's delay; each later one doubles"
    )
    max_attempts: int = Field(default=8, ge=1, le=30, description="provider attempts before a message fails")
    journey_batch: int = Field(
        default=500, ge=1, le=5_000, description="due journey instances one round claims"
    )
    journey_concurrency: int = Field(
        default=32,
        ge=1,
        le=1_000,
        description="per-instance calls in flight at once (conditions, tags, tiers)",
    )
    journey_loops: int = Field(
        default=2,
        ge=1,
        le=16,
        description="journey round loops per process, overlapping one's waits with work",
    )
    journey_lease_seconds: float = Field(
        default=60.0, ge=5, le=3_600, description="a claimed journey instance is another runner's after this"
    )
    journey_idle_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how long an idle journey runner waits before looking again"
    )
    journey_max_attempts: int = Field(
        default=10, ge=1, le=50, description="claims without progress before a journey instance fails"
    )
    journey_retry_base_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3_600,
        description="the first retry of a failed journey step; each later doubles",
    )
    journey_sweep_seconds: float = Field(
        default=60.0, gt=0, le=3_600, description="how often date triggers (birthdays) are swept"
    )
    journey_clock_file: str = Field(
        default="",
        description="development and tests only: a file holding seconds by which the journeys' clock "
        "runs ahead of the real one (refused outside development)",
    )

    campaign_batch: int = Field(
        default=1_000,
        ge=1,
        le=5_000,
        description="campaign recipients planned per transaction (each takes one customer lock)",
    )
    campaign_lease_seconds: float = Field(
        default=30.0, ge=2, le=3_600, description="a claimed campaign is another worker's after this"
    )
    campaign_slice_seconds: float = Field(
        default=5.0, gt=0, le=600, description="how long a worker plans one campaign before giving it back"
    )
    campaign_idle_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how long an idle campaign worker waits before looking again"
    )
    campaign_render_batch: int = Field(
        default=500, ge=1, le=5_000, description="due campaign messages one render round claims"
    )
    campaign_render_lease_seconds: float = Field(
        default=60.0,
        ge=2,
        le=3_600,
        description="messages a render round claimed are another renderer's after this (a crashed "
        "replica's claims wait this long)",
    )
    campaign_render_loops: int = Field(
        default=2, ge=1, le=16, description="render loops per process, overlapping profile calls"
    )

    def sealing_key(self, runtime: RuntimeSettings) -> bytes:
        """The key that seals secrets; development without one gets a fixed throwaway key."""
        return _key("PATRON_NOTIFY_SECRET_KEY", self.secret_key, b"/seal", runtime)

    def signing_key(self, runtime: RuntimeSettings) -> bytes:
        """The key that signs links sent to customers (open pixel, click, unsubscribe)."""
        return _key("PATRON_NOTIFY_LINK_KEY", self.link_key, b"/links", runtime)

    def assignment_key(self, runtime: RuntimeSettings) -> str:
        """The secret that draws campaign groups (docs/campaigns.md "Assignment"): derived from the
        link key, so groups cannot be predicted from outside and stay fixed while that key does."""
        return hashlib.sha256(self.signing_key(runtime) + b"/campaign-assignment").hexdigest()

    def allowed_hosts(self) -> frozenset[str]:
        """The SSRF allow-list, lower-cased."""
        return frozenset(h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip())


def _key(name: str, value: str, purpose: bytes, runtime: RuntimeSettings) -> bytes:
    refuse_development_secret(name, value, runtime)
    if value:
        try:
            key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"{name} is not base64") from error
        if len(key) != 32:
            raise ValueError(f"{name} must be 32 bytes")
        return key
    if not runtime.allows_development_secrets:
        raise ValueError(f"{name} is required outside development")
    return hashlib.sha256(_DEVELOPMENT_SEED + purpose).digest()


def generate_key() -> str:
    """A fresh key in the form the settings expect (urlsafe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
