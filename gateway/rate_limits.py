"""Rate limits: token buckets per tenant, per API key, per route class and for failed authentication.

A pure ASGI middleware, before routing: the key is hashed (SHA-256) for its own bucket and mapped to
its tenant through the authenticator and its cache of resolved keys (a gRPC call only when the key
is not cached, which the route would make anyway). Stricter buckets (per tenant) cover the
expensive route classes, found from the matched route's path template; 401 answers are counted
per client address, and an address over its budget gets 429 before its credentials are looked at.
Buckets live in the process, or in Redis (one Lua script, atomic across replicas) when
``PATRON_GATEWAY_REDIS_URL`` is set.
Decisions and default rates: docs/security.md, "Rate limits".
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import Authenticator
from gateway.problems import ServiceCallError, problem
from gateway.sessions import SESSION_COOKIE, SESSION_PREFIX
from gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)

RATE_LIMITED = "RATE_LIMITED"
EXPORT = "export"
TIMELINE = "timeline"
LISTING = "listing"
SCORING_RUN = "scoring_run"
TENANT = "tenant"
KEY = "key"
FAILED_AUTH = "failed_auth"

# The stricter classes by method and path template (the routers' own templates; tests check that each
# is a route of the OpenAPI, and that every filtered listing is here). A listing counts as filtered,
# and so draws on the listing bucket, when its query has a parameter other than the paging ones.
CLASSED_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/v1/customers/{customer_id}/export"): EXPORT,
    ("POST", "/v1/segments/{segment_id}/exports"): EXPORT,
    ("GET", "/v1/segments/{segment_id}/exports/{export_id}/csv"): EXPORT,
    ("GET", "/v1/customers/{customer_id}/timeline"): TIMELINE,
    ("POST", "/v1/scoring/runs"): SCORING_RUN,
    ("GET", "/v1/customers"): LISTING,
    ("GET", "/v1/customers/{customer_id}/events"): LISTING,
    ("GET", "/v1/customers/{customer_id}/tags"): LISTING,
    ("GET", "/v1/customers/{customer_id}/consents/history"): LISTING,
    ("GET", "/v1/customers/{customer_id}/coupons"): LISTING,
    ("GET", "/v1/tag-groups"): LISTING,
    ("GET", "/v1/tags"): LISTING,
    ("GET", "/v1/loyalty/points/expiring"): LISTING,
    ("GET", "/v1/campaigns/{campaign_id}/recipients"): LISTING,
    ("GET", "/v1/audit"): LISTING,
    ("GET", "/v1/merge-suggestions"): LISTING,
}
PAGING_PARAMETERS = frozenset({"cursor", "limit"})
# Failed sign-ins count in their own buckets (gateway.sessions_throttle), not in ``failed_auth``.
SIGN_IN = ("POST", "/v1/session")
_PATTERNS = [
    (method, compile_path(template)[0], klass) for (method, template), klass in CLASSED_ROUTES.items()
]
_MAX_LOCAL_BUCKETS = 200_000


@dataclass(frozen=True, slots=True)
class Charge:
    """One bucket a request draws on: allowed while it holds ``need`` tokens, then ``cost`` taken (a
    negative cost returns tokens, up to the burst)."""

    bucket: str
    key: str
    rate: float
    burst: int
    need: float = 1.0
    cost: float = 1.0


@dataclass(frozen=True, slots=True)
class Denial:
    """The bucket that refused, and how long until it holds what was needed."""

    bucket: str
    wait_seconds: float

    @property
    def retry_after(self) -> int:
        """Whole seconds, at least one (RFC 9110 allows no fraction)."""
        return max(1, math.ceil(self.wait_seconds))


class BucketStore(Protocol):
    """Where the buckets live; ``take`` is atomic: all charges are taken, or none and a denial."""

    async def take(self, charges: Sequence[Charge]) -> Denial | None: ...

    async def close(self) -> None: ...


class LocalBuckets:
    """Buckets in this process (one event loop: no await inside ``take``, so it is atomic)."""

    def __init__(self, clock: Any = time.monotonic, most: int = _MAX_LOCAL_BUCKETS) -> None:
        self._clock = clock
        self._most = most
        self._buckets: dict[str, tuple[float, float]] = {}
        self._full_at: dict[str, float] = {}  # when each bucket is full again (so, forgettable)

    def _level(self, charge: Charge, now: float) -> float:
        tokens, stamp = self._buckets.get(charge.key, (float(charge.burst), now))
        return min(float(charge.burst), tokens + max(0.0, now - stamp) * charge.rate)

    async def take(self, charges: Sequence[Charge]) -> Denial | None:
        now = self._clock()
        levels = [self._level(charge, now) for charge in charges]
        for charge, level in zip(charges, levels, strict=True):
            if level < charge.need:
                return Denial(charge.bucket, (charge.need - level) / charge.rate)
        for charge, level in zip(charges, levels, strict=True):
            if charge.cost:  # a negative cost gives tokens back, never above the burst
                tokens = min(float(charge.burst), max(0.0, level - charge.cost))
                self._buckets[charge.key] = (tokens, now)
                self._full_at[charge.key] = now + (charge.burst - tokens) / charge.rate
        if len(self._buckets) > self._most:
            self._forget(now)
        return None

    def _forget(self, now: float) -> None:
        """A flood of distinct keys (many addresses): forget first the buckets that are full again,
        which changes nothing; only if that is not enough, the ones that refill soonest — so a bucket
        an attacker keeps drained (a sign-in account) is the last to be forgotten."""
        for key in [k for k, full_at in self._full_at.items() if full_at <= now]:
            del self._buckets[key], self._full_at[key]
        if len(self._buckets) > self._most // 2:
            soonest = sorted(self._full_at, key=self._full_at.__getitem__)
            for key in soonest[: len(self._buckets) - self._most // 2]:
                del self._buckets[key], self._full_at[key]

    async def close(self) -> None:
        self._buckets.clear()
        self._full_at.clear()


# KEYS: the buckets; ARGV: per bucket rate, burst, need, cost. Redis' own clock, so that replicas agree.
_TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[4 * i - 3])
  local burst = tonumber(ARGV[4 * i - 2])
  local need = tonumber(ARGV[4 * i - 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'stamp')
  local tokens = tonumber(state[1]) or burst
  local stamp = tonumber(state[2]) or now
  local level = math.min(burst, tokens + math.max(0, now - stamp) * rate)
  if level < need then
    return {i, tostring((need - level) / rate)}
  end
  levels[i] = level
end
for i = 1, #KEYS do
  local cost = tonumber(ARGV[4 * i])
  if cost ~= 0 then
    local rate = tonumber(ARGV[4 * i - 3])
    local burst = tonumber(ARGV[4 * i - 2])
    local left = math.min(burst, math.max(0, levels[i] - cost))
    redis.call('HSET', KEYS[i], 'tokens', tostring(left), 'stamp', tostring(now))
    redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
  end
end
return {0, '0'}
"""


class RedisBuckets:
    """Buckets in Redis, shared by every gateway replica; one script call per request.

    Redis unreachable means the request goes through (logged): the limits protect the services,
    and refusing all traffic because the limiter is down would be the outage they exist to avoid.
    """

    def __init__(self, url: str, prefix: str = "patron:rate:") -> None:
        from redis.asyncio import Redis  # imported only when Redis is configured

        self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_TAKE_SCRIPT)
        self._prefix = prefix
        self._warned_at = 0.0

    async def take(self, charges: Sequence[Charge]) -> Denial | None:
        keys = [self._prefix + charge.key for charge in charges]
        arguments: list[str] = []
        for charge in charges:
            arguments += [repr(charge.rate), str(charge.burst), repr(charge.need), repr(charge.cost)]
        try:
            index, wait = await self._script(keys=keys, args=arguments)
        except Exception as error:  # any Redis failure: fail open, say so at most once a minute
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                logger.warning("rate limits not applied, Redis failed: %s", error)
            return None
        if int(index) == 0:
            return None
        return Denial(charges[int(index) - 1].bucket, float(wait))

    async def close(self) -> None:
        await self._redis.aclose()


def bucket_store(settings: GatewaySettings) -> BucketStore:
    """Redis when a URL is configured, else this process."""
    return RedisBuckets(settings.redis_url) if settings.redis_url else LocalBuckets()


def _route_class(scope: Scope) -> str | None:
    """The stricter class of the request's route, if any (matched on its method and path)."""
    method, path = scope["method"], scope["path"]
    for pattern_method, pattern, klass in _PATTERNS:
        if method == pattern_method and pattern.match(path):
            return klass if klass != LISTING or _filtered(scope) else None
    return None


def _filtered(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return any(part.partition("=")[0] not in PAGING_PARAMETERS for part in query.split("&") if part)


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _session(scope: Scope) -> str:
    """The operator's session cookie, when the request has no Authorization header (else the key)."""
    if any(name == b"authorization" for name, _ in scope["headers"]):
        return ""
    token = HTTPConnection(scope).cookies.get(SESSION_COOKIE, "")
    return token if token.startswith(SESSION_PREFIX) else ""


async def _tenant_of(scope: Scope, token: str, *, session: bool = False) -> str | None:
    """The tenant of a key (or a session), through the authenticator and its cache (so no gRPC call
    while it stays cached, and the route's own lookup then finds it there). Without a cache this
    would double the calls, so the credential alone is used; one that does not resolve has no tenant
    (the route answers 401, which is counted against the address)."""
    authenticator = getattr(scope["app"].state, "authenticator", None)
    if not isinstance(authenticator, Authenticator):
        return None
    try:
        found = await (authenticator.session_for(token) if session else authenticator.tenant_for(token))
        return found.tenant_id
    except (HTTPException, ServiceCallError):
        return None
    except Exception:  # the route makes the same call, and answers whatever failed through its handlers
        logger.debug("no tenant for rate limits", exc_info=True)
        return None


class RateLimitMiddleware:
    """Answers 429 (problem+json, ``Retry-After``, reason RATE_LIMITED, the bucket named) when a
    request's buckets are empty; counts its 401 answers against the client's address."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings, store: BucketStore | None = None) -> None:
        self.app = app
        self.settings = settings
        self.store = store or bucket_store(settings)

    def _rate(self, bucket: str) -> tuple[float, int]:
        rate: float = getattr(self.settings, f"rate_{bucket}_per_second")
        burst: int = getattr(self.settings, f"rate_{bucket}_burst")
        return rate, burst

    def _charge(self, bucket: str, owner: str, *, need: float = 1.0, cost: float = 1.0) -> Charge:
        rate, burst = self._rate(bucket)
        return Charge(bucket, f"{bucket}:{owner}", rate, burst, need, cost)

    async def charges(self, scope: Scope) -> list[Charge]:
        """The buckets a request with credentials draws on: its key's (or session's), its tenant's, its
        class's."""
        charges: list[Charge] = []
        token = _bearer(scope)
        session = "" if token else _session(scope)
        token = token or session
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            cached = self.settings.api_key_cache_seconds > 0
            tenant = await _tenant_of(scope, token, session=bool(session)) if cached else None
            owner = f"t:{tenant}" if tenant else f"k:{digest}"
            klass = _route_class(scope)
            if klass is not None:
                charges.append(self._charge(klass, owner))
            charges.append(self._charge(KEY, digest))
            if tenant:
                charges.append(self._charge(TENANT, tenant))
        return charges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_send(send))
            return
        if scope["type"] != "http" or not self.settings.rate_limits_enabled:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        # The address first, so that a guesser over its budget costs no key lookup.
        denial = await self.store.take([self._charge(FAILED_AUTH, address, cost=0.0)])
        if denial is None:
            charges = await self.charges(scope)
            denial = await self.store.take(charges) if charges else None
        if denial is not None:
            await _refuse(denial, scope, receive, send)
            return
        status = 0

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watching_send)
        if status == 401 and (scope["method"], scope["path"]) != SIGN_IN:
            await self.store.take([self._charge(FAILED_AUTH, address, need=0.0)])

    def _closing_send(self, send: Send) -> Send:
        async def closing_send(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown."):
                await self.store.close()
            await send(message)

        return closing_send


_DETAILS = {
    TENANT: "this tenant's request rate",
    KEY: "this API key's (or session's) request rate",
    EXPORT: "this tenant's rate of exports",
    TIMELINE: "this tenant's rate of timeline reads",
    LISTING: "this tenant's rate of filtered listings",
    SCORING_RUN: "this tenant's rate of scoring runs",
    FAILED_AUTH: "the failed authentications from this address",
}


async def _refuse(denial: Denial, scope: Scope, receive: Receive, send: Send) -> None:
    seconds = denial.retry_after
    detail = f"{_DETAILS[denial.bucket]} is over its limit; retry after {seconds} s"
    response = problem(
        429, detail, headers={"Retry-After": str(seconds)}, reason=RATE_LIMITED, bucket=denial.bucket
    )
    await response(scope, receive, send)
