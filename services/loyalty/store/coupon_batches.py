"""Implements ``services.loyalty.domain.coupon_batches.CouponBatchWork``: the statements of one
batch of coupon issues, each one statement over arrays whatever the number of items.

Locks are taken in one order by every issue, single or batch: the template rows (``FOR UPDATE`` in
template-id order; the single path's template read locks too), then new coupon rows (in issue-key
order), then holdings (in template, customer order). So two batches, or a batch and single issues,
over the same template wait for each other and never deadlock. (Customers the projection has not
seen are asked of profile but not remembered: see ``CustomerDirectory.resolve_many``.) The holdings
upsert is conditional like the single path's: should a merge move a customer's holdings between the
batch's read and its write, the limit still holds (the caller rolls back and tries again).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.coupon_batches import Pair
from services.loyalty.domain.coupon_work import NewCoupon
from services.loyalty.domain.coupons import Coupon, CouponTemplate, new_code
from services.loyalty.store.coupon_issuing import issued_event
from services.loyalty.store.coupon_templates import coupon_from_row, template_from_row
from services.loyalty.store.customer_directory import CustomerDirectory
from services.runtime.events.outbox import Outbox

_LOCK_TEMPLATES = sa.text(
    """
    SELECT * FROM coupon_templates
    WHERE tenant_id = :tenant_id AND template_id = ANY(CAST(:template_ids AS uuid[]))
    ORDER BY template_id
    FOR UPDATE
    """
)

_UNDER_KEYS = sa.text(
    """
    SELECT c.*, t.kind FROM coupons AS c
    JOIN coupon_templates AS t ON t.tenant_id = c.tenant_id AND t.template_id = c.template_id
    WHERE c.tenant_id = :tenant_id AND c.issue_key = ANY(CAST(:issue_keys AS text[]))
    """
)

_HOLDINGS = sa.text(
    """
    SELECT h.template_id, h.customer_id, h.issued
    FROM unnest(CAST(:template_ids AS uuid[]), CAST(:customer_ids AS uuid[])) AS p(template_id, customer_id)
    JOIN coupon_holdings AS h
      ON h.tenant_id = :tenant_id AND h.template_id = p.template_id AND h.customer_id = p.customer_id
    """
)

_INSERT = sa.text(
    """
    INSERT INTO coupons (tenant_id, code, template_id, customer_id, issue_key, source, status,
                         valid_from, valid_until, issued_at)
    SELECT :tenant_id, n.code, n.template_id, n.customer_id, n.issue_key, n.source, 'issued',
           n.valid_from, n.valid_until, n.issued_at
    FROM unnest(CAST(:codes AS text[]), CAST(:template_ids AS uuid[]), CAST(:customer_ids AS uuid[]),
                CAST(:issue_keys AS text[]), CAST(:sources AS text[]), CAST(:valid_froms AS timestamptz[]),
                CAST(:valid_untils AS timestamptz[]), CAST(:issued_ats AS timestamptz[]))
         AS n(code, template_id, customer_id, issue_key, source, valid_from, valid_until, issued_at)
    ORDER BY n.issue_key
    ON CONFLICT DO NOTHING
    RETURNING *
    """
)

_HOLD_MANY = sa.text(
    """
    INSERT INTO coupon_holdings (tenant_id, template_id, customer_id, issued)
    SELECT :tenant_id, p.template_id, p.customer_id, p.issued
    FROM unnest(CAST(:template_ids AS uuid[]), CAST(:customer_ids AS uuid[]), CAST(:counts AS int[]))
         AS p(template_id, customer_id, issued)
    ORDER BY p.template_id, p.customer_id
    ON CONFLICT (tenant_id, template_id, customer_id)
    DO UPDATE SET issued = coupon_holdings.issued + EXCLUDED.issued
    WHERE coupon_holdings.issued + EXCLUDED.issued <= (
        SELECT t.per_customer_limit FROM coupon_templates AS t
        WHERE t.tenant_id = coupon_holdings.tenant_id AND t.template_id = coupon_holdings.template_id
    )
    RETURNING 1
    """
)

_COUNT_ON_TEMPLATES = sa.text(
    """
    UPDATE coupon_templates AS t SET issued_count = t.issued_count + u.issued
    FROM unnest(CAST(:template_ids AS uuid[]), CAST(:counts AS int[])) AS u(template_id, issued)
    WHERE t.tenant_id = :tenant_id AND t.template_id = u.template_id
    """
)


class SqlCouponBatchWork:
    """The batch statements of one tenant, bound to one open transaction."""

    def __init__(
        self, connection: AsyncConnection, outbox: Outbox, directory: CustomerDirectory, tenant_id: uuid.UUID
    ) -> None:
        self._connection = connection
        self._outbox = outbox
        self._directory = directory
        self._tenant_id = tenant_id

    async def survivors(self, customer_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        if not customer_ids:
            return {}
        return await self._directory.resolve_many(self._connection, self._tenant_id, customer_ids)

    async def lock_templates(self, template_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CouponTemplate]:
        if not template_ids:
            return {}
        params = {"tenant_id": self._tenant_id, "template_ids": sorted(template_ids)}
        rows = (await self._connection.execute(_LOCK_TEMPLATES, params)).all()
        return {row.template_id: template_from_row(row) for row in rows}

    async def issued_under_keys(self, issue_keys: Collection[str]) -> dict[str, Coupon]:
        if not issue_keys:
            return {}
        params = {"tenant_id": self._tenant_id, "issue_keys": list(issue_keys)}
        rows = (await self._connection.execute(_UNDER_KEYS, params)).all()
        return {row.issue_key: coupon_from_row(row, row.kind) for row in rows}

    async def holdings(self, pairs: Collection[Pair]) -> dict[Pair, int]:
        if not pairs:
            return {}
        ordered = sorted(pairs)
        params = {
            "tenant_id": self._tenant_id,
            "template_ids": [t for t, _ in ordered],
            "customer_ids": [c for _, c in ordered],
        }
        rows = (await self._connection.execute(_HOLDINGS, params)).all()
        return {(row.template_id, row.customer_id): row.issued for row in rows}

    async def insert_coupons(self, coupons: Sequence[NewCoupon]) -> dict[str, Coupon]:
        if not coupons:
            return {}
        params = {
            "tenant_id": self._tenant_id,
            "codes": [new_code() for _ in coupons],
            "template_ids": [n.template.template_id for n in coupons],
            "customer_ids": [n.customer_id for n in coupons],
            "issue_keys": [n.issue_key for n in coupons],
            "sources": [n.source for n in coupons],
            "valid_froms": [n.valid_from for n in coupons],
            "valid_untils": [n.valid_until for n in coupons],
            "issued_ats": [n.issued_at for n in coupons],
        }
        kinds = {n.template.template_id: n.template.spec.kind for n in coupons}
        rows = (await self._connection.execute(_INSERT, params)).all()
        return {row.issue_key: coupon_from_row(row, kinds[row.template_id]) for row in rows}

    async def count_issued(self, coupons: Sequence[Coupon]) -> bool:
        held = Counter((c.template_id, c.customer_id) for c in coupons)
        pairs = sorted((t, c) for t, c in held if c is not None)
        params = {
            "tenant_id": self._tenant_id,
            "template_ids": [t for t, _ in pairs],
            "customer_ids": [c for _, c in pairs],
            "counts": [held[p] for p in pairs],
        }
        counted = (await self._connection.execute(_HOLD_MANY, params)).all()
        if len(counted) != len(pairs):
            return False
        per_template = Counter(c.template_id for c in coupons)
        templates = sorted(per_template)
        params = {
            "tenant_id": self._tenant_id,
            "template_ids": templates,
            "counts": [per_template[t] for t in templates],
        }
        await self._connection.execute(_COUNT_ON_TEMPLATES, params)
        return True

    async def announce_issued(self, coupons: Sequence[Coupon]) -> None:
        await self._outbox.append(self._connection, [issued_event(self._tenant_id, c) for c in coupons])
