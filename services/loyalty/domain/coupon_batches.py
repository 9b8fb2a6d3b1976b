"""Issuing many coupons in one transaction: the rules of ``CouponService.IssueCoupons``.

A batch answers, item by item, what ``IssueCoupon`` with the same fields would have answered had
the items been sent one after another in request order: the same customer resolution (a merged-away
id acts on the survivor; unknown or erased is refused), the same key scope (``issue``), so a key
used by either path replays in the other; the per-customer limit and the budget counted as if
sequentially (the first items in request order get what is left). A key repeated inside the batch
answers the first coupon, replayed. One item's refusal is its own result and never fails the rest.

Why set-based: journeys issue a coupon per customer for thousands of customers at once, and one
transaction per coupon serialises on the template row. Here the transaction takes a fixed handful
of statements whatever the item count (``CouponBatchWork``): resolve the customers, lock each
template row once in template-id order (every single issue takes its template's row first too, so
the two never deadlock), read earlier issues under the keys, read the holdings, insert the coupons,
count them on holdings and templates, append the events. The decisions in between are plain Python.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.loyalty.domain.coupon_work import NewCoupon
from services.loyalty.domain.coupons import Coupon, CouponTemplate, coupon_validity, scoped_key
from services.runtime.errors import Conflict, ViolationCollector

MAX_BATCH_ITEMS = 1_000
MAX_BATCH_KEY = 200
_CODE_ATTEMPTS = 3

Pair = tuple[uuid.UUID, uuid.UUID]  # (template_id, customer_id)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One issue of a batch, as the client wrote it."""

    customer_id: str
    template_id: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """An item's answer: a coupon (``replayed`` when found under its key) or a refusal's reason."""

    coupon: Coupon | None
    replayed: bool = False
    refused_reason: str | None = None


class HoldingsMoved(Conflict):
    """A customer's holdings changed between the batch's read and its write (a merge moved them):
    the whole transaction is rolled back and tried again on what is there now."""

    reason = "HOLDINGS_MOVED"


class CouponBatchWork(Protocol):
    """The statements of one batch transaction, for one tenant."""

    async def survivors(self, customer_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """The live customer each id names; an id that is unknown, erased or another tenant's is
        absent. Called before any template is locked."""
        ...

    async def lock_templates(self, template_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CouponTemplate]:
        """The templates, each row locked until the transaction ends, in template-id order; an id
        that names none of the tenant's templates is absent."""
        ...

    async def issued_under_keys(self, issue_keys: Collection[str]) -> dict[str, Coupon]:
        """The coupons the tenant issued under any of ``issue_keys`` (committed ones)."""
        ...

    async def holdings(self, pairs: Collection[Pair]) -> dict[Pair, int]:
        """How many coupons of each template each customer holds (absent: none)."""
        ...

    async def insert_coupons(self, coupons: Sequence[NewCoupon]) -> dict[str, Coupon]:
        """Insert the coupons under fresh codes; the inserted ones by issue key. A row whose key or
        code was taken meanwhile is skipped (absent from the answer)."""
        ...

    async def count_issued(self, coupons: Sequence[Coupon]) -> bool:
        """Add the coupons to their customers' holdings and their templates' issued counts; False
        (and nothing reliable written) when a holding would pass its template's limit."""
        ...

    async def announce_issued(self, coupons: Sequence[Coupon]) -> None:
        """Append one coupon.issued event per coupon to the outbox."""
        ...


def validate_batch(items: Sequence[BatchItem]) -> None:
    """Whole-request faults, named by path (``items[3].idempotency_key``): too many items, or a key
    missing or too long. Everything else is an item's own refusal."""
    errors = ViolationCollector()
    if len(items) > MAX_BATCH_ITEMS:
        errors.add("items", f"must hold at most {MAX_BATCH_ITEMS} items")
        errors.raise_if_any()
    for index, item in enumerate(items):
        if not 1 <= len(item.idempotency_key) <= MAX_BATCH_KEY:
            errors.add(f"items[{index}].idempotency_key", f"is required, 1-{MAX_BATCH_KEY} characters")
    errors.raise_if_any()


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Fresh:
    """An item planned to be issued now."""

    new: NewCoupon


@dataclass(frozen=True, slots=True)
class _Found:
    """An item answered by the coupon its key names (earlier, or issued by a former item)."""

    key: str
    pair: Pair


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str


_Decision = _Fresh | _Found | _Refused


@dataclass(slots=True)
class _Facts:
    """What the batch read before deciding."""

    survivors: dict[uuid.UUID, uuid.UUID]
    templates: dict[uuid.UUID, CouponTemplate]
    earlier: dict[str, Coupon]
    held: dict[Pair, int]


def _plan(items: Sequence[BatchItem], keys: Sequence[str], facts: _Facts, now: datetime) -> list[_Decision]:
    """Each item's decision, in request order, as sequential single issues would decide."""
    held = dict(facts.held)
    spent: Counter[uuid.UUID] = Counter()
    planned: dict[str, Pair] = {}
    decisions: list[_Decision] = []
    for item, key in zip(items, keys, strict=True):
        parsed = _uuid(item.customer_id)
        customer = facts.survivors.get(parsed) if parsed is not None else None
        template_id = _uuid(item.template_id)
        template = facts.templates.get(template_id) if template_id is not None else None
        if customer is None:
            decisions.append(_Refused("CUSTOMER_NOT_FOUND"))
            continue
        if template is None:
            decisions.append(_Refused("TEMPLATE_NOT_FOUND"))
            continue
        pair = (template.template_id, customer)
        if key in facts.earlier or key in planned:
            decisions.append(_Found(key, pair))
            continue
        try:
            valid_from, valid_until = coupon_validity(template, now)
        except Conflict as refusal:
            decisions.append(_Refused(refusal.reason))
            continue
        if held.get(pair, 0) >= template.spec.per_customer_limit:
            decisions.append(_Refused("PER_CUSTOMER_LIMIT_REACHED"))
            continue
        budget = template.spec.budget
        if budget is not None and template.issued_count + spent[template.template_id] >= budget:
            decisions.append(_Refused("BUDGET_EXHAUSTED"))
            continue
        held[pair] = held.get(pair, 0) + 1
        spent[template.template_id] += 1
        planned[key] = pair
        new = NewCoupon(customer, template, key, "api", valid_from, valid_until, now)
        decisions.append(_Fresh(new))
    return decisions


def _answer(coupon: Coupon | None, pair: Pair) -> BatchOutcome:
    """What an item whose key names ``coupon`` answers: it, replayed, when it is the same
    template's coupon of the same customer; KEY_REUSED otherwise (as IssueCoupon's conflict)."""
    if coupon is None:  # the key's first coupon was not issued after all: retry the item
        return BatchOutcome(None, refused_reason="KEY_IN_PROGRESS")
    if (coupon.template_id, coupon.customer_id) != pair:
        return BatchOutcome(None, refused_reason="KEY_REUSED")
    return BatchOutcome(coupon, replayed=True)


async def _insert(
    work: CouponBatchWork, fresh: list[NewCoupon]
) -> tuple[dict[str, Coupon], dict[str, Coupon]]:
    """Insert the planned coupons: (inserted by key, taken meanwhile by another transaction by key).
    A row skipped for a code collision (80 random bits: practically never) is drawn again."""
    inserted: dict[str, Coupon] = {}
    raced: dict[str, Coupon] = {}
    pending = fresh
    for _ in range(_CODE_ATTEMPTS):
        if not pending:
            return inserted, raced
        inserted.update(await work.insert_coupons(pending))
        skipped = [new for new in pending if new.issue_key not in inserted]
        if skipped:
            raced.update(await work.issued_under_keys([str(new.issue_key) for new in skipped]))
        pending = [new for new in skipped if new.issue_key not in raced]
    if pending:
        raise Conflict("could not draw unused coupon codes; retry", reason="CODE_COLLISION")
    return inserted, raced


async def issue_batch(work: CouponBatchWork, items: Sequence[BatchItem], now: datetime) -> list[BatchOutcome]:
    """Issue the batch in ``work``'s transaction: one outcome per item, in request order. Raises
    ``HoldingsMoved`` when a merge moved holdings under the batch (the caller tries again)."""
    keys = [scoped_key("issue", item.idempotency_key) for item in items]
    customer_ids = {c for c in (_uuid(item.customer_id) for item in items) if c is not None}
    survivors = await work.survivors(customer_ids)
    template_ids = {t for t in (_uuid(item.template_id) for item in items) if t is not None}
    templates = await work.lock_templates(template_ids)
    earlier = await work.issued_under_keys(set(keys))
    pairs = {
        (t, survivors[c])
        for c, t in ((_uuid(i.customer_id), _uuid(i.template_id)) for i in items)
        if c in survivors and t in templates
    }
    held = await work.holdings(pairs)
    decisions = _plan(items, keys, _Facts(survivors, templates, earlier, held), now)
    fresh = [d.new for d in decisions if isinstance(d, _Fresh)]
    inserted, raced = await _insert(work, fresh)
    if inserted:
        issued = list(inserted.values())
        if not await work.count_issued(issued):
            raise HoldingsMoved("a customer's coupons moved during the batch; retry")
        await work.announce_issued(issued)
    named = {**earlier, **raced, **inserted}
    outcomes: list[BatchOutcome] = []
    for decision in decisions:
        if isinstance(decision, _Refused):
            outcomes.append(BatchOutcome(None, refused_reason=decision.reason))
        elif isinstance(decision, _Found):
            outcomes.append(_answer(named.get(decision.key), decision.pair))
        elif (key := str(decision.new.issue_key)) in inserted:
            outcomes.append(BatchOutcome(inserted[key]))
        else:
            pair = (decision.new.template.template_id, decision.new.customer_id)
            outcomes.append(_answer(raced.get(key), pair))
    return outcomes
