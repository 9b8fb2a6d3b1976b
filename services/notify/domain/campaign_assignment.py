"""Which group a campaign's recipient falls in: a variant or the holdout, drawn once and for ever.

A recipient's group is a function of the campaign and the customer alone — never of the order in
which recipients are planned, of the audience's size or of a retry — so it is the same on every
replica, after every restart, in every recount of the report:

    bucket = first 32 bits of md5(key ":" campaign_id ":" customer_id), modulo 10,000

``key`` is a secret of the deployment, so nobody outside can predict (or steer) who is held out. The
store computes the same bucket in SQL (``md5`` and a ``bit(32)`` cast), set-based, for a million
recipients without a Python loop; this module is the reference the tests hold the SQL to.

Buckets ``[0, H)`` are the holdout (H = holdout percent * 100); the rest is cut in proportion to the
variants' weights, by integer thresholds computed once per campaign (``thresholds``), which both the
SQL ``CASE`` and ``group_of`` use — so the two can never disagree on a boundary.

The shares are drawn, not dealt: with 10,000 recipients a group of 45 % lands within ±1 percentage
point about 19 times in 20 (its standard deviation is 0.5 point); what is exact is that a customer's
group never changes.

A tenant may keep a **global control group**: a fixed share of its customers that no marketing
campaign reaches, for long-run lift. It uses the same hash over the tenant instead of the campaign,
so it is stable across campaigns.
"""

from __future__ import annotations

import bisect
import hashlib
import uuid
from collections.abc import Sequence

BUCKETS = 10_000
HOLDOUT = "holdout"


def bucket(key: str, scope: uuid.UUID, customer_id: uuid.UUID) -> int:
    """The customer's bucket in ``scope`` (a campaign, or a tenant for its global control group)."""
    digest = hashlib.md5(f"{key}:{scope}:{customer_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % BUCKETS


def thresholds(weights: Sequence[int], holdout_percent: float) -> list[int]:
    """The exclusive upper bucket of the holdout and of each variant in turn (the last is 10,000)."""
    holdout_end = round(holdout_percent * BUCKETS / 100)
    total = sum(weights)
    span = BUCKETS - holdout_end
    ends = [holdout_end]
    running = 0
    for weight in weights:
        running += weight
        ends.append(holdout_end + span * running // total)
    return ends


def group_of(bucket_value: int, names: Sequence[str], ends: Sequence[int]) -> str:
    """The group a bucket falls in: ``holdout`` or a variant's name."""
    index = bisect.bisect_right(ends, bucket_value)
    return HOLDOUT if index == 0 else names[index - 1]


def in_global_control(key: str, tenant_id: uuid.UUID, customer_id: uuid.UUID, share_percent: float) -> bool:
    """Whether the customer belongs to the tenant's global control group of ``share_percent``."""
    return bucket(key, tenant_id, customer_id) < round(share_percent * BUCKETS / 100)
