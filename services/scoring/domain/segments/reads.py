"""Which kinds of fact a condition reads, so that live membership re-evaluates a segment only for
the customers whose facts of those kinds an event batch changed.

A batch of ``view`` events cannot move a segment of provinces and tags; re-evaluating it for the
batch's customers would cost a statement and find nothing. The kinds are coarse on purpose (one
per table the compiler reads, behaviour per type): a kind missed here would be a member never moved,
so ``tests/test_segment_reads.py`` checks each field and leaf against the compiler's tables.
"""

from __future__ import annotations

from services.scoring.domain.segments.fields import ORDER_FOLLOWER
from services.scoring.domain.segments.tree import (
    Condition,
    EventLeaf,
    FieldLeaf,
    Leaf,
    OrdersLeaf,
    RefundLeaf,
    leaves,
)

ATTRIBUTES = "attributes"
SCORES = "scores"
PREDICTIONS = "predictions"
LOYALTY = "loyalty"
TAGS = "tags"
CONSENTS = "consents"
ORDERS = "orders"
REFUNDS = "refunds"
EVERYTHING = "*"
"""What a change to the customer itself (created, updated, merged, erased) touches."""


def behaviour(event_type: str) -> str:
    """The kind of one behaviour type's events (``events:add_to_cart``)."""
    return f"events:{event_type}"


_FIELD_PREFIXES = (
    ("attributes.", ATTRIBUTES),
    ("rfm.", SCORES),
    ("lifecycle.", SCORES),
    ("predictions.", PREDICTIONS),
    ("loyalty.", LOYALTY),
    ("consent.", CONSENTS),
    ("orders.", ORDERS),
)
_FIELDS = {"engagement": SCORES, "last_seen_at": SCORES, "tags": TAGS}


def _leaf_reads(leaf: Leaf) -> set[str]:
    if isinstance(leaf, EventLeaf):
        kinds = {behaviour(leaf.event)}
        if leaf.not_followed_by == ORDER_FOLLOWER:
            kinds.add(ORDERS)
        elif leaf.not_followed_by is not None:
            kinds.add(behaviour(leaf.not_followed_by))
        return kinds
    if isinstance(leaf, OrdersLeaf):
        return {ORDERS}
    if isinstance(leaf, RefundLeaf):
        return {REFUNDS, ORDERS}
    assert isinstance(leaf, FieldLeaf)
    if leaf.field in _FIELDS:
        return {_FIELDS[leaf.field]}
    for prefix, kind in _FIELD_PREFIXES:
        if leaf.field.startswith(prefix):
            return {kind}
    raise ValueError(f"no fact kind for field {leaf.field}")


def facts_read(condition: Condition) -> frozenset[str]:
    """The kinds of fact the condition's leaves read (every customer row is read: ``ATTRIBUTES``
    always, since merges and erasure change who is live)."""
    kinds = {ATTRIBUTES}
    for leaf in leaves(condition):
        kinds |= _leaf_reads(leaf)
    return frozenset(kinds)
