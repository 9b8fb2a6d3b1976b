"""The segment condition language (docs/segments.md): parse, dump, evaluate, find due moments.

Pure domain code: the SQL compiler, the audience projection and live membership (issue 11) build on
these definitions and are checked against ``evaluate``. See docs/segments.md.
"""

from __future__ import annotations

from services.scoring.domain.segments.dump import dump_condition
from services.scoring.domain.segments.evaluate import evaluate
from services.scoring.domain.segments.next_change import is_time_dependent, leaf_due, next_change
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.domain.segments.tree import Condition, leaves

__all__ = [
    "Condition",
    "dump_condition",
    "evaluate",
    "is_time_dependent",
    "leaf_due",
    "leaves",
    "next_change",
    "parse_condition",
]
