"""Templates: saved after the domain's checks, read back as checked Liquid (cached: a template's
text never changes once saved, so its parsed parts are kept per template id)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cachetools import LRUCache

from services.notify.domain.messages import StoredTemplate
from services.notify.domain.template_documents import TemplateDocument, TemplateParts, parse_template_document
from services.runtime.database import Database
from services.runtime.errors import AlreadyExists

_PARTS: LRUCache[uuid.UUID, TemplateParts] = LRUCache(maxsize=4_096)

_INSERT = sa.text(
    """
    INSERT INTO templates (tenant_id, template_id, name, channel, purpose, subject, body, html,
                           provider_template, provider_params, personal_fields)
    VALUES (:tenant, :template, :name, :channel, :purpose, :subject, :body, :html,
            :provider_template, CAST(:provider_params AS jsonb), :personal_fields)
    ON CONFLICT (tenant_id, name) DO NOTHING
    RETURNING *
    """
)
_GET = sa.text("SELECT * FROM templates WHERE tenant_id = :tenant AND template_id = :template")
_LIST = sa.text(
    """
    SELECT * FROM templates
    WHERE tenant_id = :tenant
      AND (CAST(:after_at AS timestamptz) IS NULL
           OR (created_at, template_id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
    ORDER BY created_at, template_id
    LIMIT :limit
    """
)


def document_of(row: Any) -> dict[str, Any]:
    """The template's saved document (what was checked when it was created)."""
    document: dict[str, Any] = {
        "name": row.name,
        "channel": row.channel,
        "purpose": row.purpose,
        "body": row.body,
    }
    if row.subject is not None:
        document["subject"] = row.subject
    if row.html is not None:
        document["html"] = row.html
    if row.provider_template is not None:
        document["provider_template"] = {"id": row.provider_template, "params": dict(row.provider_params)}
    return document


def template_from_row(row: Any) -> StoredTemplate:
    """The stored template with its checked parts (parsed once per template id)."""
    parts = _PARTS.get(row.template_id)
    if parts is None:
        parts = parse_template_document(document_of(row)).parts
        _PARTS[row.template_id] = parts
    return StoredTemplate(row.template_id, row.name, row.channel, row.purpose, parts)


class SqlTemplateStore:
    """Creates and reads the tenant's templates."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, tenant_id: uuid.UUID, document: TemplateDocument, source: dict[str, Any]) -> Any:
        """Insert a checked template; a name already used in the tenant is AlreadyExists."""
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(
                    _INSERT,
                    {
                        "tenant": tenant_id,
                        "template": uuid.uuid4(),
                        "name": document.name,
                        "channel": document.parts.channel,
                        "purpose": document.purpose,
                        "subject": source.get("subject"),
                        "body": source["body"],
                        "html": source.get("html"),
                        "provider_template": document.parts.provider_template,
                        "provider_params": json.dumps(dict(document.provider_params_source)),
                        "personal_fields": sorted(document.parts.personal_fields),
                    },
                )
            ).first()
        if row is None:
            raise AlreadyExists(f"a template named {document.name!r} exists")
        return row

    async def get(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> Any:
        """The template row, or None."""
        async with self._database.read() as connection:
            return (await connection.execute(_GET, {"tenant": tenant_id, "template": template_id})).first()

    async def page(
        self, tenant_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Any]:
        """The tenant's templates in creation order, after a cursor."""
        async with self._database.read() as connection:
            result = await connection.execute(
                _LIST,
                {
                    "tenant": tenant_id,
                    "after_at": after[0] if after else None,
                    "after_id": after[1] if after else None,
                    "limit": limit,
                },
            )
            return list(result)
