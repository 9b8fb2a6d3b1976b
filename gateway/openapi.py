"""The OpenAPI document, made to tell the truth about what the server answers.

FastAPI's document is generated from the routes; this module corrects it in one place, so that a
new route is described like its siblings without doing anything:

- every error answer (4xx, 5xx) is ``application/problem+json`` with the :class:`Problem` schema
  (FastAPI's own ``HTTPValidationError`` is not what we answer, and is dropped);
- the ``bearer`` security scheme (an API key or, for ``/v1/admin``, the admin token) on every
  operation that needs one, so that ``/docs`` has an Authorize button;
- the ``Idempotency-Key`` header on every POST the idempotency middleware honours (every POST
  under ``/v1`` but ``/v1/admin``), with the profile service's real constraints;
- the one text rule (gateway.validation) on every string of every schema and parameter: no NUL
  (lone surrogates, the rule's other half, cannot be written in a schema pattern without also
  refusing every character outside the BMP, so they are said in the descriptions only).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.problems import PROBLEM_JSON
from gateway.schemas import FieldError, Problem

SECURITY_SCHEME = "bearer"
SESSION_SCHEME = "session"
# What the profile service accepts as a key (services/profile/domain/idempotency.py).
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-255 visible ASCII characters; a retry with the same key and request answers "
    "what the first call did (Idempotent-Replayed: true), for 24 hours; the same key with another "
    "request is 409 KEY_REUSED",
    "schema": IDEMPOTENCY_KEY_SCHEMA,
}
_PUBLIC = frozenset({"/healthz", "/readyz"})
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def honours_idempotency_key(path: str, method: str) -> bool:
    """The requests :class:`gateway.idempotency.IdempotencyMiddleware` remembers by key."""
    return method.lower() == "post" and path.startswith("/v1/") and not path.startswith("/v1/admin")


def _problem_schemas() -> dict[str, Any]:
    schemas = {
        "FieldError": FieldError.model_json_schema(ref_template="#/components/schemas/{model}"),
        "Problem": Problem.model_json_schema(ref_template="#/components/schemas/{model}"),
    }
    for schema in schemas.values():
        schema.pop("$defs", None)
    return schemas


NO_NUL = "^[^\\x00]*$"


def _forbid_nul(node: object) -> None:
    """Add the no-NUL pattern to every string schema under ``node`` (beside a pattern it has)."""
    if isinstance(node, list):
        for item in node:
            _forbid_nul(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string":
        if "pattern" not in node:
            node["pattern"] = NO_NUL
        elif node["pattern"] != NO_NUL and {"pattern": NO_NUL} not in node.get("allOf", []):
            node["allOf"] = [*node.get("allOf", []), {"pattern": NO_NUL}]
    for value in node.values():
        _forbid_nul(value)


def _correct_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for status, response in operation.get("responses", {}).items():
        if status[:1] in ("4", "5"):
            response["content"] = problem_content
            if status == "422":
                response["description"] = "the request is invalid: each field at fault is in errors"
    if path not in _PUBLIC and "security" not in operation:  # the session routes say their own
        operation["security"] = [{SECURITY_SCHEME: []}]
    if honours_idempotency_key(path, method):
        parameters = [p for p in operation.get("parameters", []) if p.get("name") != "Idempotency-Key"]
        operation["parameters"] = [*parameters, IDEMPOTENCY_KEY]


def build(app: FastAPI) -> dict[str, Any]:
    """The corrected document (computed once per app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(_problem_schemas())
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "a tenant's API key (ptk_...); the admin token for /v1/admin. An operator "
            "signed in with POST /v1/session may call the tenant routes with the session cookie instead "
            "(writes with X-CSRF-Token), as its role allows",
        },
        SESSION_SCHEME: {"type": "apiKey", "in": "cookie", "name": "patron_session"},
    }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in _HTTP_METHODS:
                _correct_operation(path, method, operation)
                _forbid_nul(operation.get("parameters", []))
                _forbid_nul(operation.get("requestBody", {}))
    for name, schema in schemas.items():
        if name not in ("Problem", "FieldError"):
            _forbid_nul(schema)
    app.openapi_schema = document
    return document


class DocumentedAPI(FastAPI):
    """FastAPI serving the corrected document at ``/openapi.json`` (and so in ``/docs``)."""

    def openapi(self) -> dict[str, Any]:
        return build(self)
