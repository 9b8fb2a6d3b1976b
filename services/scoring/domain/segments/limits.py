"""The limits of the segment condition language, each with the reason it exists.

A condition arrives from an operator's browser and is evaluated for every customer of a tenant, on
every event that touches one, and whenever time alone may change an answer. Every limit below bounds
the cost of one of those evaluations (or of validating a hostile document) and is generous for the
segments operators actually write (a handful of leaves, two or three levels).
"""

from __future__ import annotations

from datetime import timedelta

MAX_DEPTH = 6
"""Levels of nesting, the root condition being level 1: deeper trees are unreadable and unbounded."""

MAX_LEAVES = 50
"""Leaves in one condition: each leaf is a join or a filter in the compiled query."""

MAX_LIST_SIZE = 1_000
"""Items of an ``in``/``not_in`` list (a province list, a set of cities; ids belong in tags)."""

MAX_STRING_LENGTH = 200
"""Characters of any text value; the longest attribute profile keeps is 200 (a refund reason)."""

MAX_KEY_LENGTH = 64
"""Characters of an event property name in ``where``, and of the name in ``custom.<name>``."""

MAX_WHERE_PROPERTIES = 10
"""Property filters of one event leaf: each is one JSON containment test per event row."""

MAX_MIN_COUNT = 10_000
"""Largest ``min_count``: more would only ever match bots, and bounds the counting work."""

MAX_MINOR = 2**63 - 1
"""Largest absolute money or count value: the range of a PostgreSQL bigint."""

MAX_IN_NEXT_DAYS = 366
"""``in_next_days`` covers at most a year: every birthday falls within 366 days of any date."""

MIN_DURATION = timedelta(minutes=1)
"""Shortest window: behaviour is kept exact to the minute, so a shorter window cannot be answered."""

MAX_DURATION = timedelta(days=3 * 366)
"""Longest window (three years): the projection keeps three years of behaviour, orders and refunds."""

MAX_REPORTED_FAULTS = 100
"""Faults listed in one answer: a hostile document must not produce a megabyte of violations."""
