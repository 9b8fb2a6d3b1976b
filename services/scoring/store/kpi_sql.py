"""The SQL the KPI rollups share: the day sums' columns, the statement that adds deltas to them, and
the spans by which a customer's active days move the weekly and monthly active counts.

**WAU and MAU as day sums.** A customer counts in the W-day active customers of day x (W = 7 or 30)
when it was active on a day of [x - W + 1, x]: its active days cover the days [d, d + W - 1]. The
covered days of each customer are kept as a difference array in ``kpi_daily`` (``wau_change``,
``mau_change``: +1 on the first covered day of a span, -1 on the day after its last), so WAU(x) and
MAU(x) are the sums of the changes up to x, and a 7- or 30-day period's active customers are read
without a pass over the customer-days. Each covered day is attributed to the latest active day at or
before it, so a day d's own span is [d, min(d + W - 1, next day - 1)]:

- a **new** day d (the days of a batch, beside the customer's stored days) newly covers
  [max(d, previous stored day + W), min(d + W - 1, next day - 1)] (the next day stored or new);
- a set of days that goes (an erasure) takes back each of its spans, and a merge replaces the spans
  of the customers' separate sets by those of their union.

**Active customers of any period as returns.** A customer is active in [a, b] once, on its first
active day in it: the day d in [a, b] whose previous active day p (none: ``NO_DAY``) is before a.
``kpi_returns`` counts customer-days by (day, previous day), so a period's distinct active customers
are one sum over its days, ``previous_day < a``, with no distinct over its customer-days. A new day d
adds (d, p) and, when the customer's next stored day s followed p, moves s from (s, p) to (s, d); a
set of days that goes takes back (d, the set's previous day) for each of its days.

**Buyers and repeat buyers as order returns.** Each counted order, by its day and the day of the
customer's counted order one back (``back`` 1) and two back (``back`` 2), ``NO_DAY`` where there is
none, is counted in ``kpi_order_returns``. Of a customer's N orders in [a, b], the first has its
order one back before a, and the first two (when N ≥ 2) their order two back: so the orders of the
period whose order one back is before a are its buyers (each once), those whose order two back is,
the sum of min(N, 2), and the difference the customers with at least two orders, the repeat buyers.
The counted days of each buyer are kept in order (``kpi_first_orders.order_days``); a change of a
customer's orders takes back the old list's rows and adds the new list's.
"""

from __future__ import annotations

import sqlalchemy as sa

WINDOWS = "(VALUES (7), (30)) AS windows(w)"
"""The active-customer windows kept as day sums: weekly (7 days) and monthly (30 days)."""

NO_DAY = "CAST('-infinity' AS date)"
"""The previous active day of a customer's first one in ``kpi_returns``: before every period."""

# The moves of newly placed days (``placed``): each new day by its previous day (stored or new), and
# the stored day that follows a run of new days moved from the stored previous day to the run's last.
_NEW_DAY_RETURNS = f"""
    SELECT day, coalesce(greatest(previous_day, new_previous), {NO_DAY}) AS previous_day, stripe, 1 AS n
    FROM placed
    UNION ALL
    SELECT moved.day, moved.previous_day, stripe, moved.n
    FROM placed
    CROSS JOIN LATERAL (VALUES (stored_next, coalesce(previous_day, {NO_DAY}), -1), (stored_next, day, 1))
         AS moved(day, previous_day, n)
    WHERE stored_next IS NOT NULL AND (new_next IS NULL OR new_next > stored_next)
"""  # noqa: S608 (fragments written in this package)


STRIPE_PARAMETER = "CAST(:stripe AS smallint)"
"""The stripe of a statement about one stripe's customers, bound as ``:stripe``."""


def _adding(cte: str, table: str, keys: str, count: str, source: str) -> str:
    """The CTE ``cte``: adds the rows of ``source`` (``keys``, then ``n``) to ``count`` of ``table``
    keyed by (tenant_id, ``keys``), in key order; a key whose deltas sum to 0 writes nothing."""
    return f"""
    {cte} AS (
        INSERT INTO {table} AS r (tenant_id, {keys}, {count})
        SELECT CAST(:t AS uuid), {keys}, sum(n) FROM ({source}) AS delta
        GROUP BY {keys} HAVING sum(n) <> 0 ORDER BY {keys}
        ON CONFLICT (tenant_id, {keys}) DO UPDATE SET {count} = r.{count} + EXCLUDED.{count}
        RETURNING 1
    )
    """  # noqa: S608 (fragments written in this package)


def _add_to_returns(source: str) -> str:
    """The CTE ``returned``: adds the rows of ``source`` (day, previous_day, stripe, n) to
    ``kpi_returns``."""
    return _adding("returned", "kpi_returns", "day, previous_day, stripe", "customers", source)


DAILY_COLUMNS = (
    "new_customers",
    "active_customers",
    "orders",
    "money_orders",
    "revenue_minor",
    "refunds_minor",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "csat_score_sum",
    "new_buyers",
    "wau_change",
    "mau_change",
)

_SURVEY_FILTERS = (
    ("nps_promoters", "n", "survey = 'nps' AND score >= 9"),
    ("nps_passives", "n", "survey = 'nps' AND score BETWEEN 7 AND 8"),
    ("nps_detractors", "n", "survey = 'nps' AND score <= 6"),
    ("csat_responses", "n", "survey = 'csat'"),
    ("csat_satisfied", "n", "survey = 'csat' AND score >= 4"),
    ("csat_score_sum", "n * score", "survey = 'csat'"),
)


def survey_deltas(sign: str = "") -> dict[str, str]:
    """The survey columns of kpi_daily as aggregates over rows that carry (survey, score, n): n
    answers of that score; ``sign`` "-" takes them back."""
    return {
        name: f"{sign}coalesce(sum({value}) FILTER (WHERE {where}), 0)"
        for name, value, where in _SURVEY_FILTERS
    }


def branch(source: str, day: str, stripe: str, **values: str) -> str:
    """One source of deltas for ``kpi_daily``: its day, stripe and every ``DAILY_COLUMNS`` (the named
    expressions, 0 for the rest) from ``source`` (a FROM clause and what follows it)."""
    columns = ", ".join(
        [f"{day} AS day", f"{stripe} AS stripe"] + [f"{values.get(c, '0')} AS {c}" for c in DAILY_COLUMNS]
    )
    return f"SELECT {columns} FROM {source}"  # noqa: S608 (fragments written in this package)


def add_to_daily(*branches: str) -> str:
    """``INSERT … SELECT`` that adds the branches' rows (any number per day and stripe) to
    ``kpi_daily``; a key whose deltas are all 0 writes nothing."""
    columns = ", ".join(DAILY_COLUMNS)
    sums = ", ".join(f"sum({c})" for c in DAILY_COLUMNS)
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in DAILY_COLUMNS)
    added = ", ".join(f"{c} = k.{c} + EXCLUDED.{c}" for c in DAILY_COLUMNS)
    source = " UNION ALL ".join(branches)
    return (
        f"INSERT INTO kpi_daily AS k (tenant_id, day, stripe, {columns}) "  # noqa: S608 (constant names)
        f"SELECT CAST(:t AS uuid), day, stripe, {sums} FROM ({source}) AS delta "
        f"GROUP BY day, stripe HAVING {nonzero} ORDER BY day, stripe "
        f"ON CONFLICT (tenant_id, day, stripe) DO UPDATE SET {added}"
    )


def with_daily(ctes: str | list[str], *branches: str) -> sa.TextClause:
    """A statement: the WITH clause ``ctes`` (its parts joined by commas), then the branches' deltas
    added to ``kpi_daily``."""
    return sa.text((ctes if isinstance(ctes, str) else ",".join(ctes)) + add_to_daily(*branches))


# Order deltas of rows carrying counted (0/1 or -1/0/1), money (bool), and the money columns.
ORDER_DELTAS = {
    "orders": "counted",
    "money_orders": "CASE WHEN money THEN counted ELSE 0 END",
    "revenue_minor": "CASE WHEN money THEN revenue ELSE 0 END",
    "refunds_minor": "CASE WHEN money THEN refunded ELSE 0 END",
}


_CHANGES = {
    "wau_change": "CASE WHEN w = 7 THEN sign ELSE 0 END",
    "mau_change": "CASE WHEN w = 30 THEN sign ELSE 0 END",
}


def span_branches(spans: str) -> list[str]:
    """The deltas of ``spans`` (a relation of w, sign, stripe, first_day, last_day): +sign on each
    span's first day, -sign on the day after its last."""
    source = f"{spans} WHERE first_day <= last_day"
    return [
        branch(source, "first_day", "stripe", **_CHANGES),
        branch(source, "last_day + 1", "stripe", **{name: f"-({value})" for name, value in _CHANGES.items()}),
    ]


def new_day_spans(rows: str) -> str:
    """CTEs ``placed``, ``spans`` and ``returned`` (to follow a WITH list) for the newly inserted
    customer-days of the relation ``rows`` (day, customer_id, stripe), read beside the customer's
    stored days (the statement's snapshot, which does not hold the rows it inserts); ``returned``
    adds their moves to ``kpi_returns``."""
    return f"""
    placed AS (
        SELECT n.day, n.stripe,
               (SELECT max(k.day) FROM kpi_customer_days k
                WHERE k.tenant_id = :t AND k.customer_id = n.customer_id AND k.day < n.day) AS previous_day,
               (SELECT min(k.day) FROM kpi_customer_days k
                WHERE k.tenant_id = :t AND k.customer_id = n.customer_id AND k.day > n.day) AS stored_next,
               lag(n.day) OVER (PARTITION BY n.customer_id ORDER BY n.day) AS new_previous,
               lead(n.day) OVER (PARTITION BY n.customer_id ORDER BY n.day) AS new_next
        FROM {rows} AS n
    ),
    spans AS (
        SELECT w, 1 AS sign, stripe, greatest(day, previous_day + w) AS first_day,
               least(day + w - 1, least(stored_next, new_next) - 1) AS last_day
        FROM placed CROSS JOIN {WINDOWS}
    ),
    {_add_to_returns(_NEW_DAY_RETURNS)}
    """  # noqa: S608 (fragments written in this package)


def _day_set_returns(sets: str, stripe: str) -> str:
    """The rows (day, previous_day, stripe, n) that add each day of each set of ``sets`` (who, day,
    sign) by the set's previous day, with the set's sign."""
    return (
        f"SELECT day, coalesce(lag(day) OVER (PARTITION BY who ORDER BY day), {NO_DAY}) AS previous_day,"  # noqa: S608
        f" {stripe} AS stripe, sign AS n FROM {sets}"
    )


def add_day_set_returns(sets: str, stripe: str) -> str:
    """The CTE ``returned`` (to follow a WITH list): adds each day of each set of ``sets`` (who,
    day, sign) to ``kpi_returns``, by the set's previous day, with the set's sign."""
    return _add_to_returns(_day_set_returns(sets, stripe))


def day_set_spans(sets: str, stripe: str, *, returns: bool = True) -> str:
    """The CTE ``spans`` (to follow a WITH list) of the relation ``sets`` (who, day, sign): each
    set's spans, signed; with ``returns``, also the CTE ``returned`` (``add_day_set_returns``)."""
    returned = f",{add_day_set_returns(sets, stripe)}" if returns else ""
    return f"""
    spans AS (
        SELECT w, sign, {stripe} AS stripe, day AS first_day,
               least(day + w - 1, lead(day) OVER (PARTITION BY who, w ORDER BY day) - 1) AS last_day
        FROM {sets} CROSS JOIN {WINDOWS}
    ){returned}
    """  # noqa: S608 (fragments written in this package)


def order_day_returns(lists: str, column: str, stripe: str, sign: str) -> str:
    """The ``kpi_order_returns`` rows (day, back, previous_day, stripe, n) of the order-day lists in
    ``column`` of ``lists`` (a table or subquery, with its conditions: a customer's counted order
    days in order; a NULL list has no rows), in ``stripe``, each with ``sign`` ("1" or "-1")."""
    return f"""
    SELECT d.day, b.back, coalesce(s.days[d.i - b.back], {NO_DAY}) AS previous_day, {stripe} AS stripe,
           {sign} AS n
    FROM (SELECT {column} AS days FROM {lists}) AS s
    CROSS JOIN LATERAL unnest(s.days) WITH ORDINALITY AS d(day, i)
    CROSS JOIN (VALUES (1), (2)) AS b(back)
    """  # noqa: S608 (fragments written in this package)


def add_to_order_returns(*sources: str) -> str:
    """The CTE ``order_returned`` (to follow a WITH list): adds the rows of ``sources`` (each as
    ``order_day_returns`` gives them) to ``kpi_order_returns``."""
    union = " UNION ALL ".join(sources)
    return _adding("order_returned", "kpi_order_returns", "day, back, previous_day, stripe", "orders", union)
