"""A journey's steps addressed by path, each knowing what comes after it.

An instance stores only the path of its next step (``steps[2].then[0]``), so a version's document is
all it needs to go on after a restart. ``plan`` flattens the nested steps once per version: the step
after the last one of a branch is the step after its ``if``; after the last step of the journey comes
the end (``None``). Steps never loop, so an instance runs each path at most once — the ledger of
steps run is keyed by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.domain.journey_definitions import JourneyDefinition, Step


@dataclass(frozen=True)
class Node:
    """One step and where an instance goes from it: ``next_path`` after it (``None``: the end); for
    ``if``, the first step of each branch (an empty branch goes straight to ``next_path``)."""

    step: Step
    next_path: str | None
    then_path: str | None = None
    else_path: str | None = None


@dataclass(frozen=True)
class Plan:
    """Every step of a version by path, and the first one."""

    first: str | None
    nodes: dict[str, Node]

    def node(self, path: str) -> Node:
        """The step at ``path``; KeyError when the version has no such step (a corrupt cursor)."""
        return self.nodes[path]


def plan(definition: JourneyDefinition) -> Plan:
    """The version's steps by path, each with its successors."""
    nodes: dict[str, Node] = {}
    first = _flatten(definition.steps, None, nodes)
    return Plan(first, nodes)


def _flatten(steps: tuple[Step, ...], after: str | None, nodes: dict[str, Node]) -> str | None:
    """Add ``steps`` (a list followed by ``after``) to ``nodes``; answer the path of its first step."""
    following = after
    for step in reversed(steps):
        if step.kind == "if":
            then_path = _flatten(step.then, following, nodes)
            else_path = _flatten(step.otherwise, following, nodes)
            nodes[step.path] = Node(step, following, then_path, else_path)
        else:
            nodes[step.path] = Node(step, following)
        following = step.path
    return following
