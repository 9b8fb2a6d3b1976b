"""Campaigns: the operator's use cases — define, start, pause, resume, cancel, list, report.

A campaign is saved in ``draft`` from a checked definition (``campaign_definitions.parse_campaign``)
whose segment and templates are the tenant's own, every template a marketing one (a campaign is
marketing by nature: a service template would skip the consent it needs). The groups' bucket
thresholds are fixed when it is saved (``campaign_assignment.thresholds``), so a customer's group
depends on nothing that can change later.

Moves: draft → scheduled (``start``; the worker begins at the send time: the audience is taken then)
→ running (the worker took the snapshot) ⇄ paused → completed (every recipient planned and every
message final); draft, scheduled, running and paused → cancelled. Any other move is 409
``CAMPAIGN_STATUS`` naming the current status. The sending itself is the worker's
(``campaign_worker``); this desk only records the operator's decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from services.notify.domain.campaign_assignment import thresholds
from services.notify.domain.campaign_definitions import CampaignDefinition, parse_campaign
from services.notify.domain.campaign_statistics import GroupInput, campaign_statistics
from services.notify.domain.messages import StoredTemplate
from services.runtime.errors import Conflict, FieldViolation, InvalidArgument, NotFound
from services.runtime.paging import decode_cursor, encode_cursor

DEFAULT_PAGE, MAX_PAGE = 50, 100
DEFAULT_RECIPIENT_PAGE, MAX_RECIPIENT_PAGE = 100, 1_000
GLOBAL_CONTROL = "global_control"

ACTIONS: dict[str, frozenset[str]] = {
    "start": frozenset({"draft"}),
    "pause": frozenset({"scheduled", "running"}),
    "resume": frozenset({"paused"}),
    "cancel": frozenset({"draft", "scheduled", "running", "paused"}),
}
"""The statuses each operator move starts from."""


@dataclass(frozen=True)
class Progress:
    recipients: int = 0
    planned: int = 0
    sent: int = 0
    suppressed: int = 0
    deferred: int = 0
    failed: int = 0
    holdout: int = 0
    global_control: int = 0


@dataclass(frozen=True)
class CampaignView:
    campaign_id: uuid.UUID
    name: str
    status: str
    document: dict[str, Any]
    created_at: datetime
    progress: Progress = field(default_factory=Progress)
    started_at: datetime | None = None
    first_send_at: datetime | None = None
    snapshot_at: datetime | None = None
    segment_version: int | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    global_control_percent: float = 0.0


@dataclass(frozen=True)
class NewCampaign:
    """What the store saves: the definition and what planning needs of it."""

    campaign_id: uuid.UUID
    definition: CampaignDefinition
    document: dict[str, Any]
    ends: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class RecipientView:
    position: int
    customer_id: uuid.UUID
    group: str
    message_id: uuid.UUID | None
    status: str | None
    reason: str | None


@dataclass(frozen=True)
class GroupTotals:
    """One group's counts as the store sums them (``docs/campaigns.md`` "Report")."""

    group: str
    recipients: int
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    suppressed: int = 0
    converted: int = 0
    orders: int = 0
    revenue_minor: int = 0
    revenue_sq_minor: int = 0
    coupon_cost_minor: int = 0


class CampaignStore(Protocol):
    async def create(self, tenant_id: uuid.UUID, campaign: NewCampaign) -> CampaignView: ...

    async def get(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> CampaignView | None: ...

    async def page(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[CampaignView]: ...

    async def move(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, action: str, now: datetime, global_control: float
    ) -> tuple[CampaignView | None, bool]:
        """Apply ``action`` if the status allows it: (the campaign after, whether it moved); None when
        there is no such campaign."""
        ...

    async def recipients(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, limit: int, after: int, group: str
    ) -> list[RecipientView] | None: ...

    async def totals(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> list[GroupTotals] | None: ...


class CampaignReferences(Protocol):
    async def template(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> StoredTemplate | None: ...

    async def segment_exists(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> bool: ...

    async def global_control_percent(self, tenant_id: uuid.UUID) -> float: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CampaignDesk:
    """The use cases behind ``CampaignService``."""

    def __init__(
        self,
        store: CampaignStore,
        references: CampaignReferences,
        *,
        clock: Callable[[], datetime] = _utc_now,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._references = references
        self._clock = clock
        self._wake = wake

    async def create(self, tenant_id: uuid.UUID, document: Any) -> CampaignView:
        """Check the definition whole, then that its segment and templates are the tenant's own
        marketing templates (faults at ``segment_id``, ``variants[i].template_id``), and save a draft."""
        now = self._clock()
        definition = parse_campaign(document, now)
        faults: list[FieldViolation] = []
        if not await self._references.segment_exists(tenant_id, definition.segment_id):
            faults.append(FieldViolation("segment_id", "is not a segment of this tenant"))
        for index, variant in enumerate(definition.variants):
            template = await self._references.template(tenant_id, variant.template_id)
            path = f"variants[{index}].template_id"
            if template is None:
                faults.append(FieldViolation(path, "is not a template of this tenant"))
            elif template.purpose != "marketing":
                faults.append(FieldViolation(path, "must be a marketing template (a campaign is marketing)"))
        if faults:
            raise InvalidArgument(faults)
        ends = thresholds([v.weight for v in definition.variants], definition.holdout_percent)
        campaign = NewCampaign(uuid.uuid4(), definition, _normalised(document), tuple(ends), now)
        return await self._store.create(tenant_id, campaign)

    async def get(self, tenant_id: uuid.UUID, campaign_id: str) -> CampaignView:
        found = await self._store.get(tenant_id, _campaign_id(campaign_id))
        if found is None:
            raise NotFound("campaign not found")
        return found

    async def page(self, tenant_id: uuid.UUID, limit: int, cursor: str) -> tuple[list[CampaignView], str]:
        """Newest first, ``limit`` (1-100, 0: 50) a page; the next page's token ("" at the end)."""
        size = _size(limit, DEFAULT_PAGE, MAX_PAGE, "page_size")
        key = decode_cursor(cursor, (datetime, uuid.UUID))
        after = None if key is None else (key[0], key[1])
        found = await self._store.page(tenant_id, size + 1, after)
        items = found[:size]
        token = encode_cursor((items[-1].created_at, items[-1].campaign_id)) if len(found) > size else ""
        return items, token

    async def move(self, tenant_id: uuid.UUID, campaign_id: str, action: str) -> CampaignView:
        """Start, pause, resume or cancel; 409 ``CAMPAIGN_STATUS`` when the status forbids it."""
        control = await self._references.global_control_percent(tenant_id) if action == "start" else 0.0
        view, moved = await self._store.move(
            tenant_id, _campaign_id(campaign_id), action, self._clock(), control
        )
        if view is None:
            raise NotFound("campaign not found")
        if not moved:
            allowed = " or ".join(sorted(ACTIONS[action]))
            raise Conflict(
                f"the campaign is {view.status}: {action} needs a campaign that is {allowed}",
                reason="CAMPAIGN_STATUS",
                metadata={"campaign_status": view.status},
            )
        if action in ("start", "resume"):
            self._wake()
        return view

    async def recipients(
        self, tenant_id: uuid.UUID, campaign_id: str, limit: int, cursor: str, group: str
    ) -> tuple[list[RecipientView], str]:
        """The audience in snapshot order (optionally one group), with each message's status."""
        size = _size(limit, DEFAULT_RECIPIENT_PAGE, MAX_RECIPIENT_PAGE, "page_size")
        key = decode_cursor(cursor, (int,))
        found = await self._store.recipients(
            tenant_id, _campaign_id(campaign_id), size + 1, 0 if key is None else key[0], group
        )
        if found is None:
            raise NotFound("campaign not found")
        items = found[:size]
        return items, encode_cursor((items[-1].position,)) if len(found) > size else ""

    async def report(self, tenant_id: uuid.UUID, campaign_id: str) -> dict[str, Any]:
        """Per group counts and rates, and each variant against the holdout (docs/campaigns.md)."""
        target = _campaign_id(campaign_id)
        view = await self._store.get(tenant_id, target)
        totals = await self._store.totals(tenant_id, target)
        if view is None or totals is None:
            raise NotFound("campaign not found")
        return build_report(view, totals)


def build_report(view: CampaignView, totals: Sequence[GroupTotals]) -> dict[str, Any]:
    """The report's JSON: every group of the definition (zeros included), then the statistics."""
    by_group = {t.group: t for t in totals}
    variants = [v["name"] for v in view.document.get("variants", [])]
    names = [*variants, "holdout"] + ([GLOBAL_CONTROL] if GLOBAL_CONTROL in by_group else [])
    groups = []
    for name in names:
        t = by_group.get(name, GroupTotals(name, 0))
        n = t.recipients
        groups.append(
            {
                "group": name,
                "kind": "variant" if name in variants else name,
                "recipients": n,
                "sent": t.sent,
                "delivered": t.delivered,
                "opened": t.opened,
                "clicked": t.clicked,
                "suppressed": t.suppressed,
                "converted": t.converted,
                "orders": t.orders,
                "revenue_minor": t.revenue_minor,
                "coupon_cost_minor": t.coupon_cost_minor,
                "conversion_rate": t.converted / n if n else None,
                "revenue_per_recipient_minor": t.revenue_minor / n if n else None,
            }
        )

    def inputs(name: str) -> GroupInput:
        t = by_group.get(name, GroupTotals(name, 0))
        return GroupInput(
            name, t.recipients, t.converted, t.revenue_minor, t.revenue_sq_minor, t.coupon_cost_minor
        )

    holdout = inputs("holdout") if "holdout" in by_group else None
    statistics = campaign_statistics([inputs(name) for name in variants], holdout)
    comparisons = list(statistics.to_dict()["comparisons"])
    return {
        "campaign_id": str(view.campaign_id),
        "status": view.status,
        "conversion_window": view.document.get("conversion_window", "P7D"),
        "confidence": statistics.confidence,
        "groups": groups,
        "lift": comparisons,
        "winner": next((c["variant"] for c in comparisons if c["winner"]), None),
        "methods": {
            "conversion": "absolute lift: Newcombe hybrid score interval; p-value: pooled two-proportion z",
            "relative": "log-adjusted risk-ratio interval",
            "revenue": "Welch t interval and test on revenue per recipient",
            "attribution": "a recipient converts with a paid order within the window after its message "
            "was sent (a holdout or unsent recipient: after the moment its message was due)",
        },
    }


def _normalised(document: Any) -> dict[str, Any]:
    return dict(document) if isinstance(document, dict) else {}


def _campaign_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise NotFound("campaign not found") from None


def _size(limit: int, default: int, maximum: int, name: str) -> int:
    size = limit or default
    if not 1 <= size <= maximum:
        raise InvalidArgument.single(name, f"must be between 1 and {maximum}")
    return size
