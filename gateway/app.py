"""The FastAPI application: routers, error handlers, middleware, and the service channels' lifetime."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from gateway import dashboard, problems
from gateway.auth import Authenticator
from gateway.clients import ServiceClients
from gateway.dependencies import storable_parameters
from gateway.docs_page import install_docs
from gateway.gathered_calls import GatheredCalls
from gateway.idempotency import IdempotencyMiddleware
from gateway.middleware import BodyLimitMiddleware, MetricsMiddleware, NoStoreMiddleware
from gateway.openapi import DocumentedAPI
from gateway.rate_limits import RateLimitMiddleware, bucket_store
from gateway.routers import (
    admin,
    api_keys,
    audit,
    campaigns,
    consents,
    coupons,
    customer_360,
    customers,
    events,
    journeys,
    kpis,
    links,
    loyalty,
    loyalty_program,
    membership,
    merge_suggestions,
    messages,
    notify_setup,
    notify_webhooks,
    operations,
    operators,
    order_batches,
    orders,
    privacy,
    scoring,
    scoring_models,
    segment_exports,
    segments,
    session,
    tags,
)
from gateway.sessions import CookiePolicy
from gateway.sessions_throttle import SignInThrottle
from gateway.settings import MIN_ADMIN_TOKEN_LENGTH, GatewaySettings
from services.runtime.dev_secrets import refuse_development_secret
from services.runtime.grpc_tls import transport_security
from services.runtime.settings import RuntimeSettings

logger = logging.getLogger(__name__)

DESCRIPTION = """Patron's REST API for storefront backends and operators.

Authenticate with `Authorization: Bearer <api key>` (a key belongs to one tenant and sees nothing
else) or, for `/v1/admin`, the admin token. Errors are `application/problem+json`; validation errors
list each field at fault in `errors`, with `reason` INVALID_ARGUMENT. Text may hold any Unicode but
NUL (U+0000) and lone surrogates, anywhere (422 naming the field). Paths have no trailing slash (one
with it is 404). Conventions: docs/api-conventions.md.
"""


def resolve_admin_token(settings: GatewaySettings, runtime: RuntimeSettings) -> str:
    """The configured admin token; outside development a missing, short or known development one (the
    dev overlay's, the tests') stops the start."""
    token = settings.admin_token
    refuse_development_secret("PATRON_ADMIN_TOKEN", token, runtime)
    if len(token) >= MIN_ADMIN_TOKEN_LENGTH:
        return token
    if not runtime.allows_development_secrets:
        raise ValueError(f"PATRON_ADMIN_TOKEN must be set, at least {MIN_ADMIN_TOKEN_LENGTH} characters")
    if token:
        raise ValueError(f"PATRON_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters")
    generated = secrets.token_urlsafe(32)
    logger.warning("PATRON_ADMIN_TOKEN is not set; this development process uses %s", generated)
    return generated


_NO_DOCUMENTS: dict[str, Any] = {"openapi_url": None}
"""With an operations port, the API's port serves no documents (they move there)."""


def create_app(settings: GatewaySettings | None = None, runtime: RuntimeSettings | None = None) -> FastAPI:
    """Build the gateway for ``settings`` (read from the environment when not given)."""
    settings = settings or GatewaySettings()
    runtime = runtime or RuntimeSettings()
    admin_token = resolve_admin_token(settings, runtime)
    tls = transport_security(runtime, "gateway")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clients = ServiceClients(settings, tls)
        app.state.clients = clients
        app.state.authenticator = Authenticator(clients, admin_token, settings.api_key_cache_seconds)
        app.state.gathered = GatheredCalls(clients, settings.gather_in_flight)
        try:
            yield
        finally:
            await clients.close()

    app = DocumentedAPI(
        title="Patron",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(storable_parameters)],
        redirect_slashes=False,
        docs_url=None,  # our own page below: Swagger UI from the installed package, not a CDN
        redoc_url=None,
        **(_NO_DOCUMENTS if settings.operations_port else {}),
    )
    if not settings.operations_port:
        install_docs(app, "/openapi.json", "Patron API")
    problems.install(app)
    # Routes are matched in the order they were included, one pattern after another: the hot paths
    # (identify, events, the 360) come first, so their calls do not test every other route first.
    # No route included after them has a path one of theirs would match.
    app.include_router(customers.router)
    app.include_router(events.router)
    app.include_router(customer_360.router)
    app.include_router(operations.router)
    if not settings.operations_port:
        app.include_router(operations.metrics_router)
    app.include_router(admin.router)
    app.include_router(api_keys.admin_router)
    app.include_router(api_keys.router)
    app.include_router(orders.router)
    app.include_router(order_batches.router)
    app.include_router(tags.router)
    app.include_router(consents.router)
    app.include_router(scoring.router)
    app.include_router(scoring_models.router)
    app.include_router(segments.router)
    app.include_router(segment_exports.router)
    app.include_router(loyalty_program.router)
    app.include_router(loyalty.router)
    app.include_router(membership.router)
    app.include_router(coupons.router)
    app.include_router(notify_setup.router)
    app.include_router(messages.router)
    app.include_router(links.router)
    app.include_router(notify_webhooks.router)
    app.include_router(journeys.router)
    app.include_router(campaigns.router)
    app.state.customer_360_deadline = settings.customer_360_deadline_seconds
    app.include_router(session.router)
    app.include_router(operators.admin_router)
    app.include_router(operators.router)
    app.include_router(audit.router)
    app.include_router(merge_suggestions.router)
    app.include_router(privacy.router)
    app.include_router(kpis.router)
    app.include_router(dashboard.router)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    # Inside the metrics (a 429 is counted) and no-store, outside everything else (a 429 costs nothing more).
    app.state.rate_buckets = bucket_store(settings)
    app.state.sign_in_throttle = SignInThrottle(app.state.rate_buckets, settings)
    app.state.cookie_policy = CookiePolicy(allow_insecure_http=runtime.allows_development_secrets)
    app.add_middleware(RateLimitMiddleware, settings=settings, store=app.state.rate_buckets)
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(MetricsMiddleware)
    return app
