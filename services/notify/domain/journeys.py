"""The journeys desk: definitions checked against the tenant's own ids, versions, lifecycle, stats.

A definition is checked in two rounds. ``parse_journey`` judges the shape and collects every id and
condition by its path; then each id must be the tenant's own — notify templates here, coupon templates
in loyalty, tags in profile, segments in scoring — and each ``if`` condition must be valid in scoring's
segment language. The checks run concurrently and every fault comes back at once, each at the path
that names it (``steps[1].then[0].send.template_id: unknown template``; a condition's fault at
``steps[1].if.<scoring's path>``).

Versions are immutable: an update saves the next version and points the journey at it, so an
instance finishes on the version it started on while new entries take the new one. Lifecycle:
draft → active ⇄ paused, and any of them → archived, which is final; archiving stops the journey's
active instances in the same transaction (a pause leaves them to the runner, which holds them).

``from_template`` builds a journey from one of the classics (``journey_classics``): content the
overrides did not supply (notify templates, loyalty coupon templates) is created for the tenant first,
after the expanded document has been judged with stand-in ids, so a bad override creates nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.notify.domain import journey_classics
from services.notify.domain.journey_classics import CouponContent, MessageContent
from services.notify.domain.journey_definitions import (
    JourneyDefinition,
    References,
    Trigger,
    parse_journey,
)
from services.notify.domain.journey_stats import (
    CursorGroup,
    CustomerJourney,
    JourneyStats,
    StepGroup,
    journey_totals,
    step_stats,
)
from services.notify.domain.setup_desk import TemplateRows
from services.notify.domain.template_documents import MAX_NAME, parse_template_document
from services.runtime.errors import Conflict, FieldViolation, InvalidArgument, NotFound

DEFAULT_PAGE = 50
MAX_PAGE = 100
EDITABLE = frozenset({"draft", "active", "paused"})
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "activate": (frozenset({"draft", "paused"}), "active"),
    "pause": (frozenset({"active"}), "paused"),
    "archive": (EDITABLE, "archived"),
}
"""Each lifecycle action: the statuses it may start from and the status it leads to."""


@dataclass(frozen=True)
class VersionRecord:
    """One version as stored: the document as given and its trigger kept apart for the index."""

    document: dict[str, Any]
    trigger_kind: str
    trigger_key: str
    has_goal: bool
    reentry: timedelta | None


@dataclass(frozen=True)
class JourneyView:
    journey_id: uuid.UUID
    name: str
    status: str
    version: int
    from_template: str | None
    document: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class JourneyStore(Protocol):
    async def known_templates(
        self, tenant_id: uuid.UUID, template_ids: Collection[uuid.UUID]
    ) -> set[uuid.UUID]: ...

    async def create(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, from_template: str | None, record: VersionRecord
    ) -> JourneyView: ...

    async def add_version(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, record: VersionRecord, editable: frozenset[str]
    ) -> tuple[JourneyView | None, str | None]:
        """(the journey at its new version, None); (None, its status) when that forbids it; (None, None)
        when there is no such journey."""
        ...

    async def transition(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, allowed: frozenset[str], to: str
    ) -> tuple[JourneyView | None, str | None]:
        """As ``add_version``; moving to ``archived`` also stops the active instances."""
        ...

    async def get(self, tenant_id: uuid.UUID, journey_id: uuid.UUID) -> JourneyView | None: ...

    async def page(
        self, tenant_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[JourneyView]: ...

    async def stats(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, now: datetime
    ) -> tuple[list[CursorGroup], list[StepGroup]]: ...

    async def customer_journeys(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[CustomerJourney]: ...


class ReferenceDirectory(Protocol):
    """What the other services know of a tenant's ids and conditions (clients/journey_references)."""

    async def coupon_template_exists(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> bool: ...

    async def tag_exists(self, tenant_id: uuid.UUID, tag_id: uuid.UUID) -> bool: ...

    async def segment_exists(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> bool: ...

    async def condition_faults(self, tenant_id: uuid.UUID, condition: dict[str, Any]) -> list[FieldViolation]:
        """Scoring's faults of a condition, each named from ``condition`` (``condition.all[2].op``)."""
        ...

    async def create_coupon_template(self, tenant_id: uuid.UUID, content: CouponContent) -> uuid.UUID: ...


def trigger_key(trigger: Trigger) -> str:
    """The value an event is matched by, beside ``trigger_kind`` (journey_versions_by_trigger)."""
    spec = trigger.spec
    if trigger.kind == "event":
        return str(spec["event"])
    if trigger.kind == "segment_entered":
        return str(uuid.UUID(str(spec["segment_entered"])))
    if trigger.kind == "order":
        return "first" if spec.get("first") else "any"
    if trigger.kind == "refund":
        return str(spec["refund"].get("reason") or "")
    return "upgraded" if trigger.kind == "tier" else "birthday"


def version_record(document: dict[str, Any], definition: JourneyDefinition) -> VersionRecord:
    """The version row of a checked document."""
    return VersionRecord(
        document=document,
        trigger_kind=definition.trigger.kind,
        trigger_key=trigger_key(definition.trigger),
        has_goal=definition.goal is not None,
        reentry=definition.reentry,
    )


def condition_path(where: str, scoring_field: str) -> str:
    """Scoring names a condition's faults from ``condition``; here they sit under the step's ``if``."""
    if scoring_field.startswith("condition"):
        return where + scoring_field[len("condition") :]
    return f"{where}.{scoring_field}"


def page_limit(limit: int) -> int:
    """A page size of 1 to ``MAX_PAGE`` (0: the default)."""
    if limit == 0:
        return DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument.single("limit", f"must be between 1 and {MAX_PAGE}")
    return limit


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _prefixed(error: InvalidArgument, prefix: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(f"{prefix}.{v.field}", v.message) for v in error.violations])


class JourneyDesk:
    """The use cases behind JourneyService, for the tenant of each call."""

    def __init__(
        self,
        store: JourneyStore,
        directory: ReferenceDirectory,
        templates: TemplateRows,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._directory = directory
        self._templates = templates
        self._clock = clock

    async def create(self, tenant_id: uuid.UUID, document: Any) -> JourneyView:
        """A new journey in draft at version 1, from a document or from a classic."""
        if isinstance(document, dict) and "from_template" in document:
            return await self._from_template(tenant_id, document)
        definition = parse_journey(document)
        await self._check_references(tenant_id, definition.references)
        return await self._store.create(tenant_id, uuid.uuid4(), None, version_record(document, definition))

    async def update(self, tenant_id: uuid.UUID, journey_id: uuid.UUID, document: Any) -> JourneyView:
        """The next version of the journey; instances already inside finish on theirs."""
        definition = parse_journey(document)
        current = await self.get(tenant_id, journey_id)
        if current.status not in EDITABLE:
            raise self._refused("update", current.status)
        await self._check_references(tenant_id, definition.references)
        view, status = await self._store.add_version(
            tenant_id, journey_id, version_record(document, definition), EDITABLE
        )
        return self._done(view, status, journey_id, "update")

    async def change_status(self, tenant_id: uuid.UUID, journey_id: uuid.UUID, action: str) -> JourneyView:
        """``activate``, ``pause`` or ``archive``; another start is a Conflict naming the status."""
        allowed, to = ACTIONS[action]
        view, status = await self._store.transition(tenant_id, journey_id, allowed, to)
        return self._done(view, status, journey_id, action)

    async def get(self, tenant_id: uuid.UUID, journey_id: uuid.UUID) -> JourneyView:
        view = await self._store.get(tenant_id, journey_id)
        if view is None:
            raise NotFound(f"journey {journey_id} not found")
        return view

    async def page(
        self, tenant_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[JourneyView]:
        """Up to ``limit`` journeys after the cursor, newest first (the store reads one more)."""
        return await self._store.page(tenant_id, after, limit)

    async def stats(self, tenant_id: uuid.UUID, journey_id: uuid.UUID) -> JourneyStats:
        """Totals of the journey's instances and counts per step, in the current document's order."""
        view = await self.get(tenant_id, journey_id)
        cursors, groups = await self._store.stats(tenant_id, journey_id, self._clock())
        return JourneyStats(journey_id, journey_totals(cursors), step_stats(view.document, groups, cursors))

    async def customer_journeys(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[CustomerJourney]:
        """The customer's instances (a merged-away id answers for its survivor), newest first."""
        return await self._store.customer_journeys(tenant_id, customer_id, after, limit)

    def catalogue(self) -> list[dict[str, Any]]:
        """The classics, ready for ``{"from_template": name}``."""
        return journey_classics.catalogue()

    def _done(
        self, view: JourneyView | None, status: str | None, journey_id: uuid.UUID, action: str
    ) -> JourneyView:
        if view is not None:
            return view
        if status is None:
            raise NotFound(f"journey {journey_id} not found")
        raise self._refused(action, status)

    @staticmethod
    def _refused(action: str, status: str) -> Conflict:
        if action == "update":
            return Conflict(
                f"the journey is {status}: it can no longer change",
                reason="JOURNEY_STATUS",
                metadata={"journey_status": status},
            )
        allowed = " or ".join(sorted(ACTIONS[action][0]))
        return Conflict(
            f"the journey is {status}: {action} needs a journey that is {allowed}",
            reason="JOURNEY_STATUS",
            metadata={"journey_status": status},
        )

    async def _from_template(self, tenant_id: uuid.UUID, document: dict[str, Any]) -> JourneyView:
        name = document["from_template"]
        if not isinstance(name, str):
            raise InvalidArgument.single("from_template", "must name one of GET /v1/journey-templates")
        overrides = {key: value for key, value in document.items() if key != "from_template"}
        try:
            expansion = journey_classics.expand(name, overrides)
        except NotFound:  # an id in a body is a fault of the body (docs/api-conventions.md)
            raise InvalidArgument.single(
                "from_template", "must name one of GET /v1/journey-templates"
            ) from None
        messages, coupons = tuple(expansion.messages), tuple(expansion.coupons)
        contents: list[MessageContent | CouponContent] = [*messages, *coupons]
        stand_ins = {content.slot: str(uuid.uuid4()) for content in contents}
        trial = parse_journey(journey_classics.fill(expansion.document, stand_ins))
        await self._check_references(
            tenant_id, trial.references, skip={uuid.UUID(v) for v in stand_ins.values()}
        )
        journey_id = uuid.uuid4()
        created = await asyncio.gather(
            *(self._create_message(tenant_id, journey_id, content) for content in messages),
            *(self._create_coupon(tenant_id, journey_id, content) for content in coupons),
        )
        ids = {content.slot: str(made) for content, made in zip(contents, created, strict=True)}
        filled = journey_classics.fill(expansion.document, ids)
        definition = parse_journey(filled)
        return await self._store.create(tenant_id, journey_id, name, version_record(filled, definition))

    async def _create_message(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, content: MessageContent
    ) -> uuid.UUID:
        suffix = f" ({journey_id.hex[:8]})"  # a template's name is unique in the tenant
        source: dict[str, Any] = {
            "name": content.name[: MAX_NAME - len(suffix)] + suffix,
            "channel": content.channel,
            "purpose": content.purpose,
            "body": content.body,
        }
        if content.subject is not None:
            source["subject"] = content.subject
        try:
            row = await self._templates.create(tenant_id, parse_template_document(source), source)
        except InvalidArgument as error:
            raise _prefixed(error, f"templates.{content.slot}") from error
        template_id: uuid.UUID = row.template_id
        return template_id

    async def _create_coupon(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, content: CouponContent
    ) -> uuid.UUID:
        try:
            return await self._directory.create_coupon_template(tenant_id, content)
        except InvalidArgument as error:
            raise _prefixed(error, f"coupon_templates.{content.slot}") from error

    async def _check_references(
        self, tenant_id: uuid.UUID, references: References, skip: Collection[uuid.UUID] = ()
    ) -> None:
        """Every id must be the tenant's and every condition valid: all faults at once, asked
        concurrently of the services that own them."""

        async def ids(
            paths: Mapping[str, uuid.UUID],
            exists: Callable[[uuid.UUID, uuid.UUID], Awaitable[bool]],
            what: str,
        ) -> list[FieldViolation]:
            unique = sorted({value for value in paths.values() if value not in skip})
            answers = await asyncio.gather(*(exists(tenant_id, value) for value in unique))
            missing = {value for value, known in zip(unique, answers, strict=True) if not known}
            return [
                FieldViolation(path, f"unknown {what}") for path, value in paths.items() if value in missing
            ]

        async def templates() -> list[FieldViolation]:
            wanted = {value for value in references.templates.values() if value not in skip}
            known = await self._store.known_templates(tenant_id, wanted) if wanted else set()
            return [
                FieldViolation(path, "unknown template")
                for path, value in references.templates.items()
                if value in wanted and value not in known
            ]

        async def condition(where: str, value: dict[str, Any]) -> list[FieldViolation]:
            faults = await self._directory.condition_faults(tenant_id, value)
            return [FieldViolation(condition_path(where, fault.field), fault.message) for fault in faults]

        found = await asyncio.gather(
            templates(),
            ids(references.coupon_templates, self._directory.coupon_template_exists, "coupon template"),
            ids(references.tags, self._directory.tag_exists, "tag"),
            ids(references.segments, self._directory.segment_exists, "segment"),
            *(condition(where, value) for where, value in references.conditions.items()),
        )
        faults = [fault for group in found for fault in group]
        if faults:
            raise InvalidArgument(faults)
