"""A realistic tenant, generated in numpy: customers, their orders, spend, categories and brands.

``generate(customers=1_000_000, orders=5_000_000, seed=7)`` returns a :class:`GeneratedTenant` in a
few seconds; the same arguments always give the same tenant. How it is drawn (all vectorised):

- **Acquisition**: each customer's first order falls on a day of the period (default 3 years ending
  ``end``), with more customers in later days (a growing shop: density rises linearly to twice the
  starting rate).
- **Purchases** follow the BG/NBD story: a customer buys at a Poisson rate rate ~ Gamma(shape 0.6, mean
  1/45 per day: heavy-tailed, most buy rarely and a few very often) and, after each purchase, drops out
  with probability p ~ Beta(1.2, 4). The number of purchases before dropping out is geometric, so the
  active span is that many inter-purchase times, cut at the end of the period. Repeat orders are then
  shared out so that the total is **exactly** ``orders``: a multinomial allocation with each customer's
  weight rate * active span (its expected number of repeats), spread uniformly over the active span (a
  Poisson process given its count). Several orders may fall on one day, as in real shops.
- **Spend** is log-normal twice over: each customer has a typical basket (median ¥120, log-sd 0.9
  between customers) and each order varies around it (log-sd 0.5), so the tail is heavy.
  Amounts are integer minor units (fen). About 3 % of orders are refunded, a third of those in full.
- **Categories and brands** are Zipf-like (s = 1.1 over 40 categories and 1.2 over 400 brands); each
  customer has a favourite category and brand that 60 % / 50 % of its orders use.
- **Hour of day**: an evening-heavy daily curve in the tenant's local time (UTC+8 by default).

:func:`copy_orders` (and :func:`copy_customers`) write the arrays into PostgreSQL with binary COPY, built
as fixed-width numpy records (no Python loop over rows); :func:`binary_copy_chunks` is the generic
encoder for other tables (e.g. order items from ``category`` / ``brand``).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

DAY_SECONDS = 86_400
CATEGORIES = 40
BRANDS = 400
REFUND_SHARE = 0.03
FULL_REFUND_SHARE = 1 / 3
# Relative weight of each local hour 0..23: quiet at night, a lunch bump, a peak from 20:00 to 22:00.
HOUR_WEIGHTS = np.array(
    [2, 1, 0.6, 0.4, 0.3, 0.4, 1, 2, 3, 4, 4.5, 5, 6, 5.5, 4.5, 4.5, 5, 5.5, 6, 7, 9, 10, 8, 5],
    dtype=np.float64,
)
_PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GeneratedTenant:
    """One tenant's customers and orders as column arrays (order rows sorted by paid_at).

    ``customer`` indexes the customer arrays (0 .. customers-1); ``paid_at`` is UTC
    (``datetime64[s]``); money is int64 minor units in ``currency``.
    """

    customers: int
    first_paid_at: npt.NDArray[np.datetime64]  # per customer: its first order
    customer: IntArray  # per order
    paid_at: npt.NDArray[np.datetime64]
    amount_minor: IntArray
    refunded_minor: IntArray
    category: npt.NDArray[np.int16]
    brand: npt.NDArray[np.int16]
    currency: str
    start: date
    end: date
    utc_offset_hours: int

    @property
    def orders(self) -> int:
        return int(self.customer.size)

    def category_names(self) -> list[str]:
        """Names for the category codes (``cat-00`` is the most popular)."""
        return [f"cat-{code:02d}" for code in range(CATEGORIES)]

    def brand_names(self) -> list[str]:
        """Names for the brand codes (``brand-000`` is the most popular)."""
        return [f"brand-{code:03d}" for code in range(BRANDS)]


def _zipf_choice(rng: np.random.Generator, size: int, kinds: int, exponent: float) -> npt.NDArray[np.int16]:
    weights = 1.0 / np.arange(1, kinds + 1, dtype=np.float64) ** exponent
    return rng.choice(kinds, size=size, p=weights / weights.sum()).astype(np.int16)


def _favourite_or_zipf(
    rng: np.random.Generator,
    favourite: npt.NDArray[np.int16],
    customer: IntArray,
    share: float,
    kinds: int,
    exponent: float,
) -> npt.NDArray[np.int16]:
    drawn = _zipf_choice(rng, customer.size, kinds, exponent)
    return np.where(rng.random(customer.size) < share, favourite[customer], drawn)


def _first_days(rng: np.random.Generator, customers: int, days: int) -> IntArray:
    """Acquisition days in [0, days) with a density rising linearly from 1 to 2 (inverse CDF)."""
    u = rng.random(customers)
    # density ∝ 1 + s/days on [0, days): CDF F(s) = (s/days + (s/days)^2 / 2) / 1.5.
    fraction = -1.0 + np.sqrt(1.0 + 3.0 * u)
    return np.minimum((fraction * days).astype(np.int64), days - 1)


def _repeat_counts(rng: np.random.Generator, weights: npt.NDArray[np.float64], repeats: int) -> IntArray:
    """Exactly ``repeats`` repeat orders shared out in proportion to ``weights`` (multinomial)."""
    total = float(weights.sum())
    if repeats == 0 or total <= 0.0:
        if repeats:
            raise ValueError("no customer can buy again: the period is too short for repeat orders")
        return np.zeros(weights.size, dtype=np.int64)
    return rng.multinomial(repeats, weights / total).astype(np.int64)


def generate(
    customers: int = 1_000_000,
    orders: int = 5_000_000,
    seed: int = 7,
    *,
    end: date = date(2025, 12, 31),
    years: int = 3,
    currency: str = "CNY",
    utc_offset_hours: int = 8,
) -> GeneratedTenant:
    """Draw a tenant of ``customers`` customers with exactly ``orders`` orders (see module docstring).

    Every customer has at least its first order, so ``orders`` must be at least ``customers``.
    """
    if customers < 1 or orders < customers:
        raise ValueError("need at least one customer and at least one order per customer")
    rng = np.random.default_rng(seed)
    days = 365 * years
    start = end - timedelta(days=days - 1)
    first_day = _first_days(rng, customers, days)
    remaining = (days - 1 - first_day).astype(np.float64)

    rate = rng.gamma(shape=0.6, scale=(1 / 45) / 0.6, size=customers)  # purchases per day
    dropout = rng.beta(1.2, 4.0, size=customers)
    purchases_before_dropout = rng.geometric(dropout)  # >= 1
    span = np.minimum(remaining, rng.gamma(shape=purchases_before_dropout, scale=1.0 / rate))
    counts = _repeat_counts(rng, rate * span, orders - customers)

    customer = np.concatenate(
        [np.arange(customers, dtype=np.int64), np.repeat(np.arange(customers, dtype=np.int64), counts)]
    )
    repeat_owner = customer[customers:]
    offset_days = np.concatenate(
        [np.zeros(customers), rng.random(repeat_owner.size) * span[repeat_owner]]
    ).astype(np.int64)
    day = first_day[customer] + offset_days
    hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
    local_second = rng.choice(24, size=customer.size, p=hour_p) * 3600 + rng.integers(
        0, 3600, size=customer.size
    )
    local = np.datetime64(start.isoformat(), "s") + (day * DAY_SECONDS + local_second).astype(
        "timedelta64[s]"
    )
    paid_at = local - np.timedelta64(utc_offset_hours * 3600, "s")

    basket = rng.normal(np.log(12_000.0), 0.9, size=customers)
    amount = np.maximum(np.round(np.exp(rng.normal(basket[customer], 0.5))), 100).astype(np.int64)
    refunded = np.zeros(customer.size, dtype=np.int64)
    refunded_rows = rng.random(customer.size) < REFUND_SHARE
    full = rng.random(customer.size) < FULL_REFUND_SHARE
    part = np.floor(amount * rng.uniform(0.1, 0.9, size=customer.size)).astype(np.int64)
    refunded[refunded_rows] = np.where(full, amount, part)[refunded_rows]

    category = _favourite_or_zipf(
        rng, _zipf_choice(rng, customers, CATEGORIES, 1.1), customer, 0.6, CATEGORIES, 1.1
    )
    brand = _favourite_or_zipf(rng, _zipf_choice(rng, customers, BRANDS, 1.2), customer, 0.5, BRANDS, 1.2)

    order = np.argsort(paid_at, kind="stable")
    first_paid = np.empty(customers, dtype="datetime64[s]")
    first_paid[customer[:customers]] = paid_at[:customers]
    return GeneratedTenant(
        customers=customers,
        first_paid_at=first_paid,
        customer=customer[order],
        paid_at=paid_at[order],
        amount_minor=amount[order],
        refunded_minor=refunded[order],
        category=category[order],
        brand=brand[order],
        currency=currency,
        start=start,
        end=end,
        utc_offset_hours=utc_offset_hours,
    )


def customer_uuids(customers: int, seed: int = 7) -> npt.NDArray[np.uint8]:
    """``customers`` random version-4 UUIDs as an (n, 16) byte array, reproducible from ``seed``."""
    raw = np.random.default_rng(seed + 1_000_003).integers(0, 256, size=(customers, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def as_uuid(raw: npt.NDArray[np.uint8]) -> uuid.UUID:
    """One row of :func:`customer_uuids` as a ``uuid.UUID``."""
    return uuid.UUID(bytes=raw.tobytes())


# ---- binary COPY ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyColumn:
    """One column of a binary COPY: its PostgreSQL wire bytes as a fixed-width numpy array.

    Build them with :func:`uuid_column`, :func:`timestamptz_column`, :func:`int64_column`,
    :func:`int32_column`, :func:`int16_column` or :func:`text_column`; a scalar column (same value on
    every row) has one element and is broadcast.
    """

    values: npt.NDArray[Any]  # big-endian, one fixed-width element per row (or one for all rows)

    @property
    def width(self) -> int:
        return int(self.values.dtype.itemsize)


def uuid_column(raw: npt.NDArray[np.uint8]) -> CopyColumn:
    """UUIDs from an (n, 16) byte array (or one UUID's 16 bytes for every row)."""
    rows = np.ascontiguousarray(raw.reshape(-1, 16))
    return CopyColumn(rows.view("S16").reshape(-1))


def timestamptz_column(moments: npt.NDArray[np.datetime64]) -> CopyColumn:
    """UTC moments as timestamptz (microseconds since 2000-01-01)."""
    micros = (moments.astype("datetime64[us]") - _PG_EPOCH).astype(np.int64)
    return CopyColumn(micros.astype(">i8"))


def int64_column(values: npt.NDArray[Any]) -> CopyColumn:
    return CopyColumn(np.asarray(values).astype(">i8"))


def int32_column(values: npt.NDArray[Any]) -> CopyColumn:
    return CopyColumn(np.asarray(values).astype(">i4"))


def int16_column(values: npt.NDArray[Any]) -> CopyColumn:
    return CopyColumn(np.asarray(values).astype(">i2"))


def text_column(values: npt.NDArray[np.bytes_] | bytes) -> CopyColumn:
    """Text of one fixed length in bytes (e.g. a currency code, zero-padded ids); all rows equally long."""
    array = np.asarray([values] if isinstance(values, bytes) else values)
    lengths = np.char.str_len(array)
    if array.size and (lengths != array.dtype.itemsize).any():
        raise ValueError("binary COPY rows here are fixed width: every text value must have the same length")
    return CopyColumn(array)


def binary_copy_chunks(
    columns: Sequence[CopyColumn], rows: int, chunk_rows: int = 250_000
) -> Iterator[bytes]:
    """PostgreSQL binary COPY data for ``rows`` rows of ``columns``, in chunks of ``chunk_rows`` rows.

    Every row has the same width, so a chunk is one numpy structured array: field count, then per
    column its length and bytes. Header and trailer are included.
    """
    fields: list[tuple[str, Any]] = [("count", ">i2")]
    for index, column in enumerate(columns):
        fields += [(f"len{index}", ">i4"), (f"val{index}", column.values.dtype)]
    dtype = np.dtype(fields)
    yield _COPY_HEADER
    for begin in range(0, rows, chunk_rows):
        stop = min(rows, begin + chunk_rows)
        chunk = np.empty(stop - begin, dtype=dtype)
        chunk["count"] = len(columns)
        for index, column in enumerate(columns):
            chunk[f"len{index}"] = column.width
            values = column.values
            chunk[f"val{index}"] = values[0] if values.size == 1 else values[begin:stop]
        yield chunk.tobytes()
    yield _COPY_TRAILER


async def _iterate(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def order_ids(count: int, prefix: str = "g") -> npt.NDArray[np.bytes_]:
    """Fixed-width order ids ``g000000000123`` for rows 0 .. count-1."""
    digits = max(12, len(str(count)))
    numbers = np.arange(count).astype(f"S{digits}")
    return np.char.add(prefix.encode(), np.char.zfill(numbers, digits))


async def copy_orders(
    connection: Any,
    tenant: GeneratedTenant,
    tenant_id: uuid.UUID,
    customer_ids: npt.NDArray[np.uint8],
    *,
    table: str = "orders",
    chunk_rows: int = 250_000,
) -> int:
    """COPY the orders into ``table`` (scoring's ``orders`` columns) over an asyncpg connection.

    Columns: tenant_id, order_id (``g`` + 12 digits, the row number), customer_id (from
    ``customer_ids``, an (n, 16) array as :func:`customer_uuids` gives), paid_at, currency,
    amount_minor, refunded_minor. Returns the number of rows written.
    """
    columns = [
        uuid_column(np.frombuffer(tenant_id.bytes, dtype=np.uint8)),
        text_column(order_ids(tenant.orders)),
        uuid_column(customer_ids[tenant.customer]),
        timestamptz_column(tenant.paid_at),
        text_column(tenant.currency.encode()),
        int64_column(tenant.amount_minor),
        int64_column(tenant.refunded_minor),
    ]
    names = ["tenant_id", "order_id", "customer_id", "paid_at", "currency", "amount_minor", "refunded_minor"]
    await connection.copy_to_table(
        table,
        source=_iterate(binary_copy_chunks(columns, tenant.orders, chunk_rows)),
        columns=names,
        format="binary",
    )
    return tenant.orders


async def copy_customers(
    connection: Any,
    tenant: GeneratedTenant,
    tenant_id: uuid.UUID,
    customer_ids: npt.NDArray[np.uint8],
    *,
    table: str = "customers",
) -> int:
    """COPY the customers into scoring's ``customers`` projection (tenant_id, customer_id, created_at:
    the first order's time). Returns the number of rows written."""
    columns = [
        uuid_column(np.frombuffer(tenant_id.bytes, dtype=np.uint8)),
        uuid_column(customer_ids),
        timestamptz_column(tenant.first_paid_at),
    ]
    await connection.copy_to_table(
        table,
        source=_iterate(binary_copy_chunks(columns, tenant.customers)),
        columns=["tenant_id", "customer_id", "created_at"],
        format="binary",
    )
    return tenant.customers


async def copy_bench_tenant(
    connection: Any, tenant: GeneratedTenant
) -> tuple[uuid.UUID, npt.NDArray[np.uint8]]:
    """A scoring tenant named ``bench`` (Asia/Shanghai) with the generated customers and orders
    COPYed in; returns its id and the customers' ids (for the tables a bench adds)."""
    tenant_id = uuid.uuid4()
    ids = customer_uuids(tenant.customers)
    await connection.execute(
        "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
        "VALUES ($1, 'bench', 'Asia/Shanghai', $2, 'CN')",
        tenant_id,
        tenant.currency,
    )
    await copy_customers(connection, tenant, tenant_id, ids)
    await copy_orders(connection, tenant, tenant_id, ids)
    return tenant_id, ids


def describe(tenant: GeneratedTenant) -> dict[str, Any]:
    """A few figures that show the shape of the tenant (for a bench report)."""
    per_customer = np.bincount(tenant.customer, minlength=tenant.customers)
    return {
        "customers": tenant.customers,
        "orders": tenant.orders,
        "period": [tenant.start.isoformat(), tenant.end.isoformat()],
        "one_time_buyers_share": round(float((per_customer == 1).mean()), 4),
        "orders_per_customer_p50_p90_p99_max": [
            int(v) for v in np.percentile(per_customer, [50, 90, 99, 100])
        ],
        "amount_minor_p50_p90_p99": [int(v) for v in np.percentile(tenant.amount_minor, [50, 90, 99])],
        "refunded_orders": int((tenant.refunded_minor > 0).sum()),
    }


if __name__ == "__main__":
    import json
    import time

    began = time.perf_counter()
    generated = generate()
    elapsed = time.perf_counter() - began
    print(json.dumps({"generate_s": round(elapsed, 2), **describe(generated)}, indent=2))
