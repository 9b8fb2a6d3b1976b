"""A template as the API saves it: name, channel, purpose and its Liquid parts, checked together.

A template has up to four Liquid parts: the subject and the text body (``check_template``), an
e-mail's HTML body, and the parameters of a provider's own template (an Aliyun ``TemplateCode``'s
variables, a WeChat subscribe template's ``thing1``/``time2`` fields), each a small Liquid snippet.
All parts follow the same rules (known personal fields only, no includes), every fault names its
path (``provider_template.params.thing1``), and at send time a customer lacking any field a part
uses is never rendered: the message is suppressed with ``missing_data``.

HTML is escaped: a nickname is data, so ``<b>`` in it arrives as text, never as markup.
"""

from __future__ import annotations

import html as html_escaping
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.notify.domain.delivery import CHANNELS, PURPOSES
from services.notify.domain.templates import (
    CheckedTemplate,
    MissingPersonalData,
    Rendered,
    check_template,
    render,
)
from services.runtime.errors import FieldViolation, InvalidArgument

MAX_NAME = 100
MAX_PROVIDER_PARAMS = 20
MAX_PROVIDER_ID = 100
MAX_DATA_KEYS = 50
MAX_DATA_JSON = 16_384
_FIELDS = {"name", "channel", "purpose", "subject", "body", "html", "provider_template"}


@dataclass(frozen=True)
class TemplateParts:
    """The checked Liquid of a template: what is rendered per customer at send time."""

    channel: str
    main: CheckedTemplate
    html: CheckedTemplate | None = None
    provider_template: str | None = None
    provider_params: Mapping[str, CheckedTemplate] = field(default_factory=dict)

    @property
    def personal_fields(self) -> frozenset[str]:
        """Every personal field any part prints (what must be fetched for a customer)."""
        fields = set(self.main.personal_fields)
        for part in (self.html, *self.provider_params.values()):
            if part is not None:
                fields |= part.personal_fields
        return frozenset(fields)


@dataclass(frozen=True)
class TemplateDocument:
    """A template ready to store."""

    name: str
    purpose: str
    parts: TemplateParts
    provider_params_source: Mapping[str, str]


@dataclass(frozen=True)
class RenderedMessage:
    """A message's text for one customer."""

    subject: str | None
    body: str
    html: str | None
    provider_params: Mapping[str, str]


def parse_template_document(document: Any) -> TemplateDocument:
    """The body of ``POST /v1/notify/templates``; InvalidArgument naming every fault's path."""
    if not isinstance(document, dict):
        raise InvalidArgument.single("template", "must be an object")
    faults = [FieldViolation(key, "is not a template field") for key in sorted(set(document) - _FIELDS)]
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        faults.append(FieldViolation("name", f"must be text of 1 to {MAX_NAME} characters"))
    channel = document.get("channel")
    if channel not in CHANNELS:
        faults.append(FieldViolation("channel", f"must be one of {', '.join(CHANNELS)}"))
    purpose = document.get("purpose")
    if purpose not in PURPOSES:
        faults.append(FieldViolation("purpose", "must be marketing or service"))
    texts = {key: document.get(key) for key in ("subject", "body", "html")}
    for key, value in texts.items():
        if value is not None and not isinstance(value, str):
            faults.append(FieldViolation(key, "must be text"))
    if not isinstance(texts["body"], str):
        faults.append(FieldViolation("body", "is required"))
    if texts["html"] is not None and channel != "email":
        faults.append(FieldViolation("html", "only an e-mail template has an HTML body"))
    if texts["subject"] is not None and channel not in ("email", "push"):
        faults.append(FieldViolation("subject", "only e-mail and push templates have a subject"))
    provider_id, params = _provider_template(document.get("provider_template"), faults)
    if faults:
        raise InvalidArgument(faults)
    parts = _check_parts(str(channel), texts, provider_id, params)
    return TemplateDocument(str(name).strip(), str(purpose), parts, params)


def _provider_template(value: Any, faults: list[FieldViolation]) -> tuple[str | None, dict[str, str]]:
    if value is None:
        return None, {}
    if not isinstance(value, dict) or set(value) - {"id", "params"}:
        faults.append(FieldViolation("provider_template", 'must be {"id", "params"?}'))
        return None, {}
    provider_id = value.get("id")
    if not isinstance(provider_id, str) or not provider_id.strip() or len(provider_id) > MAX_PROVIDER_ID:
        faults.append(
            FieldViolation("provider_template.id", f"must be text of 1 to {MAX_PROVIDER_ID} characters")
        )
        provider_id = None
    params = value.get("params", {})
    if not isinstance(params, dict) or len(params) > MAX_PROVIDER_PARAMS:
        faults.append(
            FieldViolation("provider_template.params", f"must map at most {MAX_PROVIDER_PARAMS} names")
        )
        return provider_id, {}
    for key, text in params.items():
        if not isinstance(text, str) or not key or len(key) > 64:
            faults.append(FieldViolation(f"provider_template.params.{key}", "must be text (Liquid)"))
    return provider_id, {k: v for k, v in params.items() if isinstance(v, str)}


def _check_parts(
    channel: str, texts: Mapping[str, Any], provider_id: str | None, params: Mapping[str, str]
) -> TemplateParts:
    faults: list[FieldViolation] = []
    main = _checked(lambda: check_template(channel, texts["subject"], texts["body"]), "", faults)
    html = None
    if texts["html"] is not None:
        html = _checked(lambda: check_template(channel, None, texts["html"]), "html", faults)
    checked_params: dict[str, CheckedTemplate] = {}
    for key, text in params.items():
        part = _checked(
            lambda text=text: check_template(channel, None, text), f"provider_template.params.{key}", faults
        )
        if part is not None:
            checked_params[key] = part
    if faults or main is None:
        raise InvalidArgument(faults)
    return TemplateParts(channel, main, html, provider_id, checked_params)


def _checked(check: Any, path: str, faults: list[FieldViolation]) -> CheckedTemplate | None:
    try:
        result: CheckedTemplate = check()
        return result
    except InvalidArgument as error:
        for violation in error.violations:
            faults.append(FieldViolation(path or violation.field, violation.message))
        return None


def render_message(
    parts: TemplateParts, personal: Mapping[str, Any], data: Mapping[str, Any]
) -> RenderedMessage | MissingPersonalData:
    """Every part for one customer, or every field the customer lacks (nothing rendered then)."""
    missing: set[str] = set()
    main = render(parts.main, personal, data)
    html_part: Rendered | MissingPersonalData | None = None
    if parts.html is not None:
        html_part = render(parts.html, _escaped(personal), _escaped(data))
    params: dict[str, str] = {}
    for key, part in parts.provider_params.items():
        rendered = render(part, personal, data)
        if isinstance(rendered, MissingPersonalData):
            missing |= set(rendered.fields)
        else:
            params[key] = rendered.body
    for result in (main, html_part):
        if isinstance(result, MissingPersonalData):
            missing |= set(result.fields)
    if missing:
        return MissingPersonalData(tuple(sorted(missing)))
    assert isinstance(main, Rendered)
    return RenderedMessage(
        main.subject, main.body, html_part.body if isinstance(html_part, Rendered) else None, params
    )


def _escaped(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: html_escaping.escape(v) if isinstance(v, str) else v for k, v in values.items()}
