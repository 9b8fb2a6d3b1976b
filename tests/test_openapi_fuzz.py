"""Schemathesis over every operation of the gateway's OpenAPI, against the real services, with the
valid keys of two tenants.

The in-process gateway app is served on loopback by uvicorn inside the test's event loop (where the
gRPC services run too); schemathesis generates schema-valid and schema-violating requests for each
operation in a worker thread and runs its default checks, among them ``not_a_server_error`` (a 500 is
a bug), ``status_code_conformance`` and ``response_schema_conformance`` (an answer the document does
not describe is a bug; the test fails should a schemathesis release drop them from the defaults).
The examples of an operation alternate between two tenants' keys, the second tenant set up
differently (another currency without minor units, time zone and region), so that neither tenant's
settings are the only ones an answer is checked under. A new operation is covered without touching
this file. What it may still report is listed in ``DOCUMENTED`` with the reason; anything else fails
the test.

Speed: the no-NUL pattern the document puts on every request string (gateway/openapi.py) made the
generator spend most of the run canonicalising regular expressions (a template's 100,000-character
body took seconds per example). The fuzzer's copy of the document drops it from the request side
and generates no NUL instead (``allow_x00=False``); the answers keep it. NUL in every string of
every operation is tested by tests/test_text_rule.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.meta import negated_parameters

from gateway.app import create_app
from gateway.openapi import NO_NUL
from services.runtime.server import ServiceServer
from tests.conftest import ADMIN_TOKEN, TenantKey, create_tenant, gateway_settings
from tests.support import TEST_RUNTIME, free_port

# Examples per operation and mode, shared by the two tenants' keys: bounded so that the whole run
# stays around a minute on a 2-core machine.
EXAMPLES = 6

# The checks that make "0 server errors and 0 answers that violate the documented schema" (issue 15).
REQUIRED_CHECKS = frozenset(
    {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    }
)

VALID_REJECTED = "Schema-valid request rejected"
INVALID_ACCEPTED = "Schema-violating request accepted"

# Rules the schema cannot state (they depend on the clock, on stored data, on another field, or on a
# parser), each answering 422 naming the field. The schema states every other limit (gateway/limits.py).
_PHONE_EMAIL = "an identity's value must parse: a phone number that exists, a well-formed e-mail"
_ATTRIBUTES = (
    "birthday from 1900-01-01 to today, registered_at not in the future, custom at most 5 levels "
    "deep and 16 KiB (the clock, and JSON's size, are beyond the schema)"
)
_PRINTABLE = "tag names must be printable (Unicode categories C and Z but space are refused)"
_CONDITION = (
    "the condition is free JSON in the schema; the scoring service checks it against the segment "
    "language and names each fault (docs/segments.md)"
)
_JOURNEY = (
    "a journey's trigger, steps and goal are free JSON in the schema; notify checks them against the "
    "definition's rules and the tenant's own ids (docs/journeys.md) and names each fault by its path"
)
_BATCH = "a batch judges its items one by one: 200, the malformed item in rejected (docs/api-conventions.md)"

# (operation, finding) that schemathesis may report, each with why it is right. Anything else fails.
DOCUMENTED: dict[tuple[str, str], str] = {
    ("GET /v1/customers", VALID_REJECTED): "identity_type and identity_value go together (a "
    "dependency between query parameters OpenAPI cannot state); " + _PHONE_EMAIL,
    ("GET /v1/loyalty/reports/daily", VALID_REJECTED): "to must not be before from, and the range "
    "spans at most 366 days",
    ("GET /v1/kpis", VALID_REJECTED): "to must not be before from, and the period spans at most 366 "
    "days (docs/kpis.md)",
    ("GET /v1/kpis/retention", VALID_REJECTED): "to must not be before from, and the period spans at "
    "most 366 days (docs/kpis.md)",
    ("POST /v1/customers/identify", VALID_REJECTED): f"{_PHONE_EMAIL}; {_ATTRIBUTES}",
    ("PATCH /v1/customers/{customer_id}", VALID_REJECTED): _ATTRIBUTES,
    ("POST /v1/customers/{customer_id}/merge", VALID_REJECTED): "an unknown other_customer_id is "
    "422 (ids in bodies, docs/api-conventions.md)",
    ("POST /v1/admin/tenants", VALID_REJECTED): "the time zone must be one the server knows (IANA), "
    "the currency and region codes must exist (ISO 4217, ISO 3166-1)",
    ("POST /v1/orders", VALID_REJECTED): "an unknown customer_id is 422 (ids in bodies); the currency "
    "must exist and be money (not XXX, XAU); paid_at from 1970 to now + 5 minutes; line totals and "
    "their sum are bounded (price x quantity); " + _PHONE_EMAIL,
    ("POST /v1/orders/{order_id}/refunds", VALID_REJECTED): "refunded_at from 1970 to now + 5 "
    "minutes; the currency must exist (checked before the order is looked up)",
    ("POST /v1/coupon-templates", VALID_REJECTED): "discount_minor at most threshold_minor; "
    "valid_until after valid_from, in the future, at most ~10 years after it",
    ("POST /v1/tag-groups", VALID_REJECTED): _PRINTABLE,
    ("PATCH /v1/tag-groups/{group_id}", VALID_REJECTED): _PRINTABLE + " (checked before the lookup)",
    ("POST /v1/tags", VALID_REJECTED): f"an unknown group_id is 422 (ids in bodies); {_PRINTABLE}",
    ("PATCH /v1/tags/{tag_id}", VALID_REJECTED): f"an unknown group_id is 422; {_PRINTABLE}",
    ("PUT /v1/customers/{customer_id}/tags/{tag_id}", VALID_REJECTED): "expires_at in the future, "
    "at most 10 years ahead",
    ("PUT /v1/customers/{customer_id}/consents", VALID_REJECTED): "the source must be printable",
    ("PUT /v1/loyalty/program", VALID_REJECTED): "tier thresholds start at 0 and increase, streak "
    "days increase, tier codes are unique (relations between items)",
    ("PUT /v1/scoring/config", VALID_REJECTED): "the configuration document is free JSON in the "
    "schema; the scoring service checks each of its fields (docs/scoring.md)",
    ("POST /v1/segments/preview", VALID_REJECTED): _CONDITION,
    ("POST /v1/segments", VALID_REJECTED): _CONDITION,
    ("PUT /v1/segments/{segment_id}", VALID_REJECTED): _CONDITION + " (checked before the lookup)",
    ("POST /v1/notify/webhooks", VALID_REJECTED): "the url must be an absolute https URL (http in "
    "development) without credentials, whose host resolves (outside development: to public addresses "
    "only, SSRF) — a parser and DNS are beyond the schema",
    ("POST /v1/scoring/runs", VALID_REJECTED): "as_of at most one day after the tenant's today",
    ("PUT /v1/notify/channels/{channel}", VALID_REJECTED): "settings are free JSON in the schema; "
    "notify checks them against the provider's own settings (docs/notify.md) and names settings.<key>; "
    "a provider must belong to the channel",
    ("PUT /v1/notify/policy", VALID_REJECTED): "a cap's window and the attribution window are ISO 8601 "
    "durations from PT1H to P90D; quiet hours are clock times with start and end apart; the global "
    "control share goes in steps of 0.1",
    ("POST /v1/notify/templates", VALID_REJECTED): "subject, body, HTML and provider parameters are "
    "Liquid: notify parses them and allows only the contract's personal fields (docs/notify.md); a "
    "subject or HTML only where the channel has one",
    ("POST /v1/journeys", VALID_REJECTED): _JOURNEY,
    ("PUT /v1/journeys/{journey_id}", VALID_REJECTED): _JOURNEY + " (checked before the lookup)",
    ("POST /v1/campaigns", VALID_REJECTED): "a campaign's fields are optional in the schema so that notify "
    "reports every fault at once by its path (docs/campaigns.md): the segment and the templates must be "
    "the tenant's own (templates marketing ones), variant names unique and not holdout, the holdout in "
    "steps of 0.1, send_at an ISO 8601 time within a year, the conversion window PT1H to P90D",
    ("POST /v1/api-keys", VALID_REJECTED): "expires_at must be in the future (the clock); each scope "
    "once (uniqueItems, which the generator does not honour)",
    ("POST /v1/admin/tenants/{tenant_id}/api-keys", VALID_REJECTED): "expires_at must be in the future "
    "(the clock); each scope once",
    ("POST /v1/api-keys/{key_id}/roll", VALID_REJECTED): "the overlap is at most P7D and not an empty "
    "duration (P, PT): sizes and emptiness are beyond the pattern",
    ("POST /v1/events", INVALID_ACCEPTED): _BATCH,
    ("POST /v1/orders/batch", INVALID_ACCEPTED): _BATCH,
    ("POST /v1/refunds/batch", INVALID_ACCEPTED): _BATCH,
}


def documented(label: str, title: str) -> bool:
    """Whether a finding is one of the documented exceptions."""
    return (label, title) in DOCUMENTED


@contextlib.asynccontextmanager
async def served(services: dict[str, ServiceServer]) -> AsyncIterator[str]:
    """A gateway app on a loopback port of this process, in this event loop."""
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    app = create_app(gateway_settings(addresses), TEST_RUNTIME)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


Findings = dict[tuple[str, str], str]


def _references(node: object) -> list[str]:
    """The component schemas ``node`` refers to directly."""
    if isinstance(node, list):
        return [name for item in node for name in _references(item)]
    if not isinstance(node, dict):
        return []
    own = [node["$ref"].rsplit("/", 1)[1]] if isinstance(node.get("$ref"), str) else []
    return own + [name for value in node.values() for name in _references(value)]


def _drop_no_nul(node: object) -> None:
    if isinstance(node, list):
        for item in node:
            _drop_no_nul(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("pattern") == NO_NUL:
        del node["pattern"]
    if "allOf" in node:
        node["allOf"] = [part for part in node["allOf"] if part != {"pattern": NO_NUL}]
        if not node["allOf"]:
            del node["allOf"]
    for value in node.values():
        _drop_no_nul(value)


def without_request_nul_patterns(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` whose parameters and request bodies (and the components they use) have
    no no-NUL pattern; schemas only answers use keep it (see the module docstring)."""
    fuzzed = copy.deepcopy(document)
    schemas = fuzzed["components"]["schemas"]
    pending: list[str] = []
    for item in fuzzed["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                for part in (operation.get("parameters", []), operation.get("requestBody", {})):
                    _drop_no_nul(part)
                    pending.extend(_references(part))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            _drop_no_nul(schemas[name])
            pending.extend(_references(schemas[name]))
    return fuzzed


def fuzz(document: dict[str, Any], base_url: str, tenants: tuple[TenantKey, TenantKey]) -> Findings:
    """Every operation, both generation modes, the examples alternating between the tenants' keys:
    the failures found, as (operation, title), each with the first request that showed it (a curl
    command, to reproduce it by hand)."""
    schema = schemathesis.openapi.from_dict(without_request_nul_patterns(document))
    schema.config.generation.update(allow_x00=False)
    # 413 refuses a body over the gateway's limit (PATRON_GATEWAY_MAX_BODY_BYTES) before it is read:
    # a rejection, as documented on every operation, though schemathesis does not count it as one.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    found: Findings = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # an operation the document cannot describe
        operation = result.ok()
        missing = REQUIRED_CHECKS - enabled_checks(schema, operation)
        assert not missing, f"{operation.label}: schemathesis no longer runs {sorted(missing)} by default"
        admin = operation.path.startswith("/v1/admin")
        tokens = [ADMIN_TOKEN] if admin else [tenant.api_key for tenant in tenants]
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )
        run_operation(strategy, base_url, itertools.cycle(tokens), found, operation.label)
    return found


def enabled_checks(schema: Any, operation: Any) -> set[str]:
    """The names of the built-in checks ``call_and_validate`` runs for ``operation`` by default."""
    load_all_checks()
    config = schema.config.checks_config_for(operation=operation, phase=None)
    names = {getattr(check, "__name__", "") for check in CHECKS.get_all()}
    return {name for name in names if name and config.get_by_name(name=name).enabled}


def authorization(case: schemathesis.Case[Any], token: str) -> dict[str, str]:
    """The credentials to send, unless the case is about their absence (a negative case that drops
    the Authorization header must reach the server without it, to be answered 401)."""
    if any(name.lower() == "authorization" for name, _ in negated_parameters(case.meta)):
        return {}
    return {"Authorization": f"Bearer {token}"}


def run_operation(
    strategy: st.SearchStrategy[schemathesis.Case[Any]],
    base_url: str,
    tokens: Iterator[str],
    found: Findings,
    label: str,
) -> None:
    """Send the operation's examples, each with the next of ``tokens``, and record each failure of
    the default checks."""

    @settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case[Any]) -> None:
        headers = authorization(case, next(tokens))
        if case.meta is not None and case.meta.generation.mode.is_positive and case.query:
            # A cursor is opaque: only one a previous page handed out is valid, and a generated one
            # would hide what else the case says. Negative cases keep theirs (malformed is 422).
            case.query.pop("cursor", None)
        try:
            case.call_and_validate(base_url=base_url, headers=headers, timeout=10)
        except (FailureGroup, Failure) as error:
            failures = error.exceptions if isinstance(error, FailureGroup) else [error]
            for failure in failures:
                found.setdefault((label, failure.title), f"{case.as_curl_command()}\n    {failure.message}")

    check()


@pytest.mark.timeout(110)
async def test_schemathesis_finds_only_documented_failures(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    document = (await api.get("/openapi.json")).json()
    # Yen have no minor units: amounts, reports and coupons are checked under both kinds of money.
    second = await create_tenant(
        api, "Fuzz shop B", currency="JPY", timezone="America/New_York", default_region="US"
    )
    async with served(services) as base_url:
        run: Callable[[], Findings] = lambda: fuzz(document, base_url, (tenant, second))  # noqa: E731
        found = await asyncio.to_thread(run)
    undocumented = sorted(finding for finding in found if not documented(*finding))
    assert not undocumented, "\n".join(
        f"{label}: {title}\n  {found[label, title]}" for label, title in undocumented
    )
