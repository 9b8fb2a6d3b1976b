"""What the campaign desk asks about a definition and a start: the tenant's templates (notify's own
store), its segments (scoring, through the journeys' ``GrpcReferenceDirectory``) and its policy's
global control share. Implements the domain's ``CampaignReferences`` by composing what exists."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from services.notify.domain.messages import StoredTemplate
from services.notify.domain.policy import parse_policy


class Templates(Protocol):
    async def template(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> StoredTemplate | None: ...


class Segments(Protocol):
    async def segment_exists(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> bool: ...


class Policies(Protocol):
    async def policy(self, tenant_id: uuid.UUID) -> tuple[dict[str, Any] | None, datetime | None]: ...


class CampaignReferenceDirectory:
    """Templates from notify's store, segments from scoring, the global control share from the policy."""

    def __init__(self, templates: Templates, segments: Segments, policies: Policies) -> None:
        self._templates = templates
        self._segments = segments
        self._policies = policies

    async def template(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> StoredTemplate | None:
        """The tenant's template (None: not the tenant's), to check it exists and is marketing."""
        return await self._templates.template(tenant_id, template_id)

    async def segment_exists(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> bool:
        """Whether scoring has this saved segment for the tenant (scoring down: 503, never a guess)."""
        return await self._segments.segment_exists(tenant_id, segment_id)

    async def global_control_percent(self, tenant_id: uuid.UUID) -> float:
        """The share the tenant keeps out of every campaign, fixed into a campaign when it starts."""
        document, _ = await self._policies.policy(tenant_id)
        return 0.0 if document is None else parse_policy(document).global_control_percent
