"""Running journey instances: each due instance goes on from its cursor to its next wait or its end.

The guarantees (DESIGN.md "Durable work"):

- An instance is worked by one runner at a time: the store claims due instances with a lease
  (``FOR UPDATE SKIP LOCKED``), and every commit is refused unless the lease is still ours and the
  instance still active — a converted, stopped or re-claimed instance goes no further.
- A step's effects and the instance's advance commit in one transaction. Steps without effects
  outside notify (``if``, ``wait``, ``exit``, the end) are recorded with the next step that has one;
  a ``send`` commits its message in the same transaction as the advance.
- A call that leaves the database carries a key derived from the instance and the step
  (``journey:<instance>:<path>``): loyalty answers a retried ``issue_coupon`` with the coupon it issued
  the first time, and a retried ``send`` finds its message by its dedupe key — so a crash between a
  call and its commit never issues or sends twice.
- Each path runs at most once per instance (the store's ledger is keyed by it; steps never loop).

A failure that retrying may cure (a service down) releases the instance to be retried later with the
same keys; after ``max_attempts`` claims without progress the instance fails and says why.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.notify.domain.durations import parse_duration
from services.notify.domain.journey_plan import Plan
from services.notify.domain.messages import MessageDraft, MessageView, SendCommand
from services.runtime.errors import Conflict, NotFound

log = logging.getLogger(__name__)

ENDED = ("completed", "exited", "failed")


@dataclass(frozen=True)
class CouponOutcome:
    """A coupon issued (``code``) or refused for good (``reason``)."""

    code: str | None
    reason: str | None


@dataclass(frozen=True)
class ClaimedInstance:
    """A due instance leased to this runner."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    journey_id: uuid.UUID
    version: int
    customer_id: uuid.UUID
    cursor: str | None
    trigger_kind: str
    trigger_at: datetime
    context: dict[str, Any]
    lease_token: uuid.UUID
    attempts: int
    last_order_at: datetime | None


@dataclass(frozen=True)
class StepRecord:
    """One step run, as the ledger keeps it; a ``send`` is ``pending`` until its message commits."""

    path: str
    kind: str
    outcome: str
    reason: str | None = None
    message_id: uuid.UUID | None = None
    coupon_code: str | None = None


@dataclass(frozen=True)
class Advance:
    """Where the instance stands after the recorded steps."""

    cursor: str | None
    due_at: datetime | None
    status: str  # active, completed, exited, failed
    context: dict[str, Any] = field(default_factory=dict)
    end_reason: str | None = None
    keep_lease: bool = False


class InstanceStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedInstance]:
        """Lease up to ``limit`` due instances of active journeys, oldest due first, skipping those
        another runner holds."""
        ...

    async def plan_of(self, tenant_id: uuid.UUID, journey_id: uuid.UUID, version: int) -> Plan:
        """The version's steps by path (versions never change, so this may be cached)."""
        ...

    async def commit(
        self,
        instance: ClaimedInstance,
        records: Sequence[StepRecord],
        advance: Advance,
        now: datetime,
        draft: MessageDraft | None = None,
    ) -> bool:
        """Record the steps, commit the message (if any) and advance — all or nothing; False when the
        instance is no longer ours or no longer active (nothing written)."""
        ...

    async def release(
        self, instance: ClaimedInstance, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Give the instance back, due at ``retry_at``; ``None`` fails it for good."""
        ...


class StepEffects(Protocol):
    async def issue_coupon(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, template_id: uuid.UUID, key: str
    ) -> CouponOutcome: ...

    async def membership(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def tag(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID) -> str | None: ...

    async def evaluate(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, condition: dict[str, Any]
    ) -> bool: ...


class MessagePreparer(Protocol):
    async def prepare(self, tenant_id: uuid.UUID, command: SendCommand) -> MessageDraft | MessageView:
        """The message judged and rendered, ready to commit — or the one its dedupe key already sent."""
        ...


@dataclass(frozen=True)
class RunnerLimits:
    batch: int = 500
    concurrency: int = 64
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 10
    retry_base: timedelta = timedelta(seconds=30)


def step_key(instance_id: uuid.UUID, path: str) -> str:
    """The idempotency key of one step of one instance (loyalty's coupon key, the message's dedupe key)."""
    return f"journey:{instance_id}:{path}"


def benefits_line(membership: dict[str, Any]) -> str:
    """The tier's benefits as one line a template can print (``9.5折 · 包邮 · 专属客服``)."""
    parts: list[str] = []
    percent = int(membership.get("discount_percent") or 0)
    if percent:
        parts.append(f"{(100 - percent) / 10:g}折")
    if membership.get("free_shipping"):
        parts.append("包邮")
    if membership.get("priority_service"):
        parts.append("专属客服")
    multiplier = int(membership.get("points_multiplier_percent") or 100)
    if multiplier > 100:
        parts.append(f"{multiplier / 100:g}倍积分")
    return " · ".join(parts)


class _Lost(Exception):
    """The instance is no longer ours (lease lost, converted, stopped): go no further."""


class JourneyRunner:
    """Claims due instances and runs each to its next wait or its end."""

    def __init__(
        self,
        store: InstanceStore,
        effects: StepEffects,
        messages: MessagePreparer,
        clock: Callable[[], datetime],
        limits: RunnerLimits | None = None,
        after_coupon: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``after_coupon`` (development and tests only) is awaited with the step's key once loyalty
        issued a coupon and before the step commits — the one window where an effect outside the
        database is done and not yet recorded; the crash test kills the process there."""
        self._store = store
        self._effects = effects
        self._messages = messages
        self._clock = clock
        self._limits = limits or RunnerLimits()
        self._gate = asyncio.Semaphore(self._limits.concurrency)
        self._after_coupon = after_coupon

    async def run_once(self) -> int:
        """One round: claim a batch and run it; answers how many instances were claimed."""
        claimed = await self._store.claim(self._clock(), self._limits.batch, self._limits.lease)
        if claimed:  # logged as claimed, before running: which replica took what, even if it then dies
            log.info("journey round claimed %d instances", len(claimed))
            await asyncio.gather(*(self._guarded(instance) for instance in claimed))
        return len(claimed)

    async def _guarded(self, instance: ClaimedInstance) -> None:
        async with self._gate:
            try:
                await self.run_instance(instance)
            except _Lost:
                return
            except Exception as error:  # a service down, a deadline: retried later with the same keys
                log.warning("journey instance %s failed a step: %s", instance.instance_id, error)
                await self._release(instance, f"{type(error).__name__}: {error}")

    async def _release(self, instance: ClaimedInstance, error: str) -> None:
        now = self._clock()
        if instance.attempts >= self._limits.max_attempts:
            await self._store.release(instance, error[:500], None, now)
            return
        delay = self._limits.retry_base * (2 ** min(instance.attempts - 1, 8))
        await self._store.release(instance, error[:500], now + delay, now)

    async def run_instance(self, instance: ClaimedInstance) -> None:
        """Run from the cursor until a wait, an exit or the end (see the module's guarantees)."""
        plan = await self._store.plan_of(instance.tenant_id, instance.journey_id, instance.version)
        context = dict(instance.context)
        records: list[StepRecord] = []
        path = instance.cursor
        while True:
            now = self._clock()
            if path is None:
                await self._commit(instance, records, Advance(None, None, "completed", context, "completed"))
                return
            node = plan.node(path)
            step = node.step
            if step.kind == "wait":
                span = parse_duration(step.value)
                assert span is not None
                records.append(StepRecord(path, "wait", "waited"))
                await self._commit(instance, records, Advance(node.next_path, now + span, "active", context))
                return
            if step.kind == "exit":
                records.append(StepRecord(path, "exit", "exited"))
                await self._commit(instance, records, Advance(None, None, "exited", context, "exit"))
                return
            if step.kind == "if":
                met = await self._condition(instance, step.value)
                records.append(StepRecord(path, "if", "then" if met else "else"))
                chosen = node.then_path if met else node.else_path
                path = chosen if chosen is not None else node.next_path
                continue
            if step.kind == "send":
                await self._send(instance, path, step.value, records, context, node.next_path)
            else:
                records.append(await self._effect(instance, path, step.kind, step.value, context))
                await self._commit(
                    instance, records, Advance(node.next_path, now, "active", context, keep_lease=True)
                )
            records = []
            path = node.next_path

    async def _commit(
        self,
        instance: ClaimedInstance,
        records: Sequence[StepRecord],
        advance: Advance,
        draft: MessageDraft | None = None,
    ) -> None:
        if not await self._store.commit(instance, records, advance, self._clock(), draft):
            raise _Lost

    async def _condition(self, instance: ClaimedInstance, condition: dict[str, Any]) -> bool:
        if set(condition) == {"since_trigger"}:
            return instance.last_order_at is not None and instance.last_order_at > instance.trigger_at
        return await self._effects.evaluate(instance.tenant_id, instance.customer_id, condition)

    async def _effect(
        self, instance: ClaimedInstance, path: str, kind: str, value: dict[str, Any], context: dict[str, Any]
    ) -> StepRecord:
        """Run ``issue_coupon`` or ``tag`` outside the database, under the step's key."""
        tenant, customer = instance.tenant_id, instance.customer_id
        if kind == "tag":
            reason = await self._effects.tag(tenant, customer, uuid.UUID(value["tag_id"]))
            return StepRecord(path, kind, "failed" if reason else "tagged", reason)
        template = value.get("template_id")
        if template is None:  # the tier's birthday benefit
            member = await self._effects.membership(tenant, customer)
            template = (member or {}).get("birthday_coupon_template_id")
            if not template:
                return StepRecord(path, kind, "skipped", "no_benefit")
        key = step_key(instance.instance_id, path)
        outcome = await self._effects.issue_coupon(tenant, customer, uuid.UUID(str(template)), key)
        if self._after_coupon is not None and outcome.code is not None:
            await self._after_coupon(key)
        if outcome.code is None:
            return StepRecord(path, kind, "failed", outcome.reason)
        context["coupon_code"] = outcome.code
        return StepRecord(path, kind, "issued", coupon_code=outcome.code)

    async def _send(
        self,
        instance: ClaimedInstance,
        path: str,
        value: dict[str, Any],
        records: list[StepRecord],
        context: dict[str, Any],
        next_path: str | None,
    ) -> None:
        """Commit the step's message with the advance (or record why there is none)."""
        data = dict(context.get("data") or {})
        if instance.trigger_kind == "tier":
            member = await self._effects.membership(instance.tenant_id, instance.customer_id)
            if member is not None:
                data.setdefault("to_tier", member["tier_name"] or member["tier"])
                data["benefits"] = benefits_line(member)
        command = SendCommand(
            customer_id=instance.customer_id,
            template_id=uuid.UUID(value["template_id"]),
            data=data,
            dedupe_key=step_key(instance.instance_id, path),
            coupon_code=context.get("coupon_code"),
            sender="journey",
            sender_ref=f"journey:{instance.journey_id}:{path}",
        )
        advance = Advance(next_path, self._clock(), "active", context, keep_lease=True)
        try:
            prepared = await self._messages.prepare(instance.tenant_id, command)
        except NotFound as error:
            reason = "unknown_customer" if "customer" in str(error) else "template_missing"
            await self._commit(instance, [*records, StepRecord(path, "send", "failed", reason)], advance)
            return
        except Conflict:
            record = StepRecord(path, "send", "failed", "channel_disabled")
            await self._commit(instance, [*records, record], advance)
            return
        if isinstance(prepared, MessageView):  # sent before a crash: record what it became
            record = StepRecord(path, "send", prepared.status, prepared.reason, prepared.message_id)
            await self._commit(instance, [*records, record], advance)
            return
        await self._commit(instance, [*records, StepRecord(path, "send", "pending")], advance, prepared)


def with_status(record: StepRecord, message: MessageView) -> StepRecord:
    """A pending send's record once its message committed."""
    outcome = message.status if message.status in ("queued", "deferred", "suppressed") else "queued"
    return replace(record, outcome=outcome, reason=message.reason, message_id=message.message_id)
