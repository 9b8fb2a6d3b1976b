"""Running journey instances: each due instance goes on from its cursor to its next wait or its end.

The guarantees (DESIGN.md "Durable work"):

- An instance is worked by one runner at a time: the store claims due instances with a lease
  (``FOR UPDATE SKIP LOCKED``), and a commit writes nothing for an instance unless the lease is still
  ours and the instance still active — a converted, stopped or re-claimed instance goes no further.
- A step's effects and the instance's advance commit in one transaction. Steps without effects
  outside notify (``if``, ``wait``, ``exit``, the end) are recorded with the step that has one (or
  with the wait or end they lead to); a ``send`` commits its message in the same transaction as the
  advance.
- A call that leaves the database carries a key derived from the instance and the step
  (``journey:<instance>:<path>``): loyalty answers a retried ``issue_coupon`` with the coupon it issued
  the first time, and a retried ``send`` finds its message by its dedupe key — so a crash between a
  call and its commit never issues or sends twice.
- Each path runs at most once per instance (the store's ledger is keyed by it; steps never loop).
- A wait counts from the moment the instance reached it on the journeys' clock: its entry, the end
  of the wait before it, or the round whose call (an effect, a segment condition) led to it — never
  from when a runner happened to claim it, so a runner's lag (its idle time, a backlog, a restart)
  does not lengthen the wait.

Speed: a claim is worked as a batch, step kind by step kind — every coupon of the batch asked of
loyalty in one call per tenant, every send prepared together (one profile call per 1,000 customers)
and committed with the steps and advances of the whole round in one transaction. A round is one
transaction whatever the batch's size.

A failure that retrying may cure (a service down) releases the instances it touched to be retried
later with the same keys; after ``max_attempts`` claims without progress an instance fails and says
why.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.notify.domain.durations import parse_duration
from services.notify.domain.journey_plan import Plan
from services.notify.domain.journey_ports import (
    Advance,
    ClaimedInstance,
    CouponRequest,
    InstanceStore,
    MessagePreparer,
    StepCommit,
    StepEffects,
    StepRecord,
)
from services.notify.domain.message_batches import NotPrepared
from services.notify.domain.messages import MessageDraft, SendCommand

log = logging.getLogger(__name__)

EFFECTS = ("send", "issue_coupon", "tag")
CALL_CONCURRENCY = 32
"""Per-instance calls in flight at once (scoring conditions, tags, tier lookups)."""


@dataclass(frozen=True)
class RunnerLimits:
    batch: int = 500
    concurrency: int = CALL_CONCURRENCY
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 10
    retry_base: timedelta = timedelta(seconds=30)


def step_key(instance_id: uuid.UUID, path: str) -> str:
    """The idempotency key of one step of one instance (loyalty's coupon key, the message's dedupe key)."""
    return f"journey:{instance_id}:{path}"


def benefits_line(membership: dict[str, Any]) -> str:
    """The tier's benefits as one line a template can print (``9.5折 · 包邮 · 专属客服``); never blank,
    so a congratulations template printing it is not suppressed for a tier without extras."""
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
    return " · ".join(parts) or "会员专享"


@dataclass
class _Walk:
    """An instance being worked this round: where it stands and what it did since its last commit."""

    instance: ClaimedInstance
    plan: Plan
    path: str | None
    context: dict[str, Any]
    reached_at: datetime  # when it reached ``path``: a wait there counts from this moment
    records: list[StepRecord] = field(default_factory=list)
    final: Advance | None = None  # set when the walk reached a wait, an exit or the end
    draft: MessageDraft | None = None

    @property
    def kind(self) -> str:
        """The step the walk stopped at: an effect, ``condition`` (a segment ``if``), or ``final``."""
        if self.final is not None or self.path is None:
            return "final"
        step = self.plan.node(self.path).step
        return "condition" if step.kind == "if" else step.kind


class JourneyRunner:
    """Claims due instances and runs them, a batch at a time, to their next wait or their end."""

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
        """One claim worked to the end; answers how many instances were claimed."""
        claimed = await self._store.claim(self._clock(), self._limits.batch, self._limits.lease)
        if claimed:  # which replica did the work: operators and the replicas test read it
            log.info("journey round claimed %d instances", len(claimed))
        walks: list[_Walk] = []
        for instance in claimed:
            plan = await self._store.plan_of(instance.tenant_id, instance.journey_id, instance.version)
            walks.append(_Walk(instance, plan, instance.cursor, dict(instance.context), instance.due_at))
        while walks:
            walks = await self._round(walks)
        return len(claimed)

    async def _round(self, walks: list[_Walk]) -> list[_Walk]:
        """Walk every instance to its next effect, run the effects kind by kind, commit them all in
        one transaction; answers the walks that go on (stopped at a further effect)."""
        now = self._clock()
        for walk in walks:
            self._walk(walk)
        groups: dict[str, list[_Walk]] = {}
        for walk in walks:
            groups.setdefault(walk.kind, []).append(walk)
        released: set[uuid.UUID] = set()
        for kind, members in groups.items():
            if kind == "final":
                continue
            try:
                await {
                    "condition": self._conditions,
                    "issue_coupon": self._coupons,
                    "tag": self._tags,
                    "send": self._sends,
                }[kind](members, now)
            except Exception as error:  # a service down, a deadline: retried later with the same keys
                log.warning("journey %s steps failed for %d instances: %s", kind, len(members), error)
                await self._release(members, f"{type(error).__name__}: {error}")
                released.update(walk.instance.instance_id for walk in members)
        kept = {
            kind: [w for w in members if w.instance.instance_id not in released]
            for kind, members in groups.items()
        }
        go_on = kept.get("condition", [])  # answered: they walk on next round, nothing to commit yet
        effects = [walk for kind in EFFECTS for walk in kept.get(kind, [])]
        for walk in go_on + effects:
            walk.reached_at = now  # what follows a call made now starts now
        for walk in effects:
            self._walk(walk)  # past the effect: on to the next effect, a wait or the end
        to_commit = kept.get("final", []) + effects
        commits = [self._commit_of(walk, now) for walk in to_commit]
        committed = await self._store.commit_many(commits, now) if commits else set()
        for walk in effects:
            if walk.final is None and walk.instance.instance_id in committed:
                walk.records, walk.draft = [], None
                go_on.append(walk)
        return go_on

    def _walk(self, walk: _Walk) -> None:
        """Run steps without outside effects until an effect, a segment condition, a wait, an exit or
        the end; a ``since_trigger`` check reads the facts the claim brought, and a wait counts from
        when the instance reached it, not from when this runner got to it."""
        while walk.final is None:
            if walk.path is None:
                walk.final = Advance(None, None, "completed", walk.context, "completed")
                return
            node = walk.plan.node(walk.path)
            step = node.step
            if step.kind == "wait":
                span = parse_duration(step.value)
                assert span is not None
                walk.records.append(StepRecord(walk.path, "wait", "waited"))
                walk.final = Advance(node.next_path, walk.reached_at + span, "active", walk.context)
                return
            if step.kind == "exit":
                walk.records.append(StepRecord(walk.path, "exit", "exited"))
                walk.final = Advance(None, None, "exited", walk.context, "exit")
                return
            if step.kind == "if" and set(step.value) == {"since_trigger"}:
                instance = walk.instance
                met = instance.last_order_at is not None and instance.last_order_at > instance.trigger_at
                self._branch(walk, met)
                continue
            return  # an effect or a segment condition: the round's groups run it

    def _branch(self, walk: _Walk, met: bool) -> None:
        assert walk.path is not None
        node = walk.plan.node(walk.path)
        walk.records.append(StepRecord(walk.path, "if", "then" if met else "else"))
        chosen = node.then_path if met else node.else_path
        walk.path = chosen if chosen is not None else node.next_path

    def _done(self, walk: _Walk, record: StepRecord) -> None:
        """Record an effect step and move past it."""
        assert walk.path is not None
        walk.records.append(record)
        walk.path = walk.plan.node(walk.path).next_path

    def _commit_of(self, walk: _Walk, now: datetime) -> StepCommit:
        advance = walk.final or Advance(walk.path, now, "active", walk.context, keep_lease=True)
        return StepCommit(walk.instance, tuple(walk.records), advance, walk.draft)

    async def _bounded(self, call: Awaitable[Any]) -> Any:
        async with self._gate:
            return await call

    async def _conditions(self, walks: list[_Walk], now: datetime) -> None:
        """Segment conditions, evaluated by scoring for each customer now."""
        answers = await asyncio.gather(
            *(
                self._bounded(
                    self._effects.evaluate(
                        w.instance.tenant_id, w.instance.customer_id, w.plan.node(str(w.path)).step.value
                    )
                )
                for w in walks
            )
        )
        for walk, met in zip(walks, answers, strict=True):
            self._branch(walk, bool(met))

    async def _coupons(self, walks: list[_Walk], now: datetime) -> None:
        """Every coupon of the round, one loyalty call per tenant, each under its step's key."""
        asking: dict[uuid.UUID, list[tuple[_Walk, CouponRequest]]] = {}
        benefits = await asyncio.gather(*(self._benefit_template(walk) for walk in walks))
        for walk, template in zip(walks, benefits, strict=True):
            assert walk.path is not None
            if template is None:
                self._done(walk, StepRecord(walk.path, "issue_coupon", "skipped", "no_benefit"))
                continue
            request = CouponRequest(
                walk.instance.customer_id, template, step_key(walk.instance.instance_id, walk.path)
            )
            asking.setdefault(walk.instance.tenant_id, []).append((walk, request))
        for tenant_id, pairs in asking.items():
            outcomes = await self._effects.issue_coupons(tenant_id, [request for _, request in pairs])
            for (walk, request), outcome in zip(pairs, outcomes, strict=True):
                assert walk.path is not None
                if outcome.code is None:
                    self._done(walk, StepRecord(walk.path, "issue_coupon", "failed", outcome.reason))
                    continue
                if self._after_coupon is not None:
                    await self._after_coupon(request.key)
                walk.context["coupon_code"] = outcome.code
                self._done(walk, StepRecord(walk.path, "issue_coupon", "issued", coupon_code=outcome.code))

    async def _benefit_template(self, walk: _Walk) -> uuid.UUID | None:
        value = walk.plan.node(str(walk.path)).step.value
        if value.get("template_id") is not None:
            return uuid.UUID(str(value["template_id"]))
        member = await self._bounded(
            self._effects.membership(walk.instance.tenant_id, walk.instance.customer_id)
        )
        template = (member or {}).get("birthday_coupon_template_id")
        return uuid.UUID(str(template)) if template else None

    async def _tags(self, walks: list[_Walk], now: datetime) -> None:
        """Tags applied in profile (applying one again changes nothing)."""
        reasons = await asyncio.gather(
            *(
                self._bounded(
                    self._effects.tag(
                        w.instance.tenant_id,
                        w.instance.customer_id,
                        uuid.UUID(w.plan.node(str(w.path)).step.value["tag_id"]),
                    )
                )
                for w in walks
            )
        )
        for walk, reason in zip(walks, reasons, strict=True):
            self._done(walk, StepRecord(str(walk.path), "tag", "failed" if reason else "tagged", reason))

    async def _sends(self, walks: list[_Walk], now: datetime) -> None:
        """Every send of the round prepared together per tenant; the messages commit with the round."""
        by_tenant: dict[uuid.UUID, list[_Walk]] = {}
        for walk in walks:
            by_tenant.setdefault(walk.instance.tenant_id, []).append(walk)
        for tenant_id, members in by_tenant.items():
            commands = [await self._command(walk) for walk in members]
            prepared = await self._messages.prepare_many(tenant_id, commands)
            for walk, result in zip(members, prepared, strict=True):
                path = str(walk.path)
                if isinstance(result, NotPrepared):
                    self._done(walk, StepRecord(path, "send", "failed", result.reason))
                else:
                    walk.draft = result
                    self._done(walk, StepRecord(path, "send", "pending"))

    async def _command(self, walk: _Walk) -> SendCommand:
        instance = walk.instance
        data = dict(walk.context.get("data") or {})
        if instance.trigger_kind == "tier":
            member = await self._bounded(self._effects.membership(instance.tenant_id, instance.customer_id))
            if member is not None:
                data["to_tier"] = member["tier_name"] or member["tier"]
                data["benefits"] = benefits_line(member)
        path = str(walk.path)
        return SendCommand(
            customer_id=instance.customer_id,
            template_id=uuid.UUID(walk.plan.node(path).step.value["template_id"]),
            data=data,
            dedupe_key=step_key(instance.instance_id, path),
            coupon_code=walk.context.get("coupon_code"),
            sender="journey",
            sender_ref=f"journey:{instance.journey_id}:{path}",
        )

    async def _release(self, walks: list[_Walk], error: str) -> None:
        now = self._clock()
        for walk in walks:
            instance = walk.instance
            if instance.attempts >= self._limits.max_attempts:
                await self._store.release(instance, error[:500], None, now)
                continue
            delay = self._limits.retry_base * (2 ** min(instance.attempts - 1, 8))
            await self._store.release(instance, error[:500], now + delay, now)
