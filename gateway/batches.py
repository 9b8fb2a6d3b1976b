"""Batch calls judged item by item (events, orders, refunds): one bad item never rejects the others.

The call as a whole is checked by its body model (a list of 1 to the service's limit); each item's
shape is checked here and rejects only that item; the well-formed ones go to the service, whose
answer is renumbered back to the positions the client sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from gateway.problems import field_path
from gateway.schemas import FieldError
from gateway.validation import message_for

Outcome = Literal["accepted", "duplicate", "rejected"]
Item = TypeVar("Item", bound=BaseModel)


class RejectedItem(BaseModel):
    index: int
    errors: list[FieldError]


class BatchRecorded(BaseModel):
    accepted: int = Field(description="items recorded by this call")
    duplicates: int = Field(
        description="items whose id was already recorded with the same body (or came earlier)"
    )
    rejected: list[RejectedItem]
    results: list[Outcome] = Field(description="what became of each item, in request order")


class _ServiceError(Protocol):
    field: str
    message: str


class _ServiceRejection(Protocol):
    index: int

    @property
    def errors(self) -> Sequence[_ServiceError]: ...


class BatchAnswer(Protocol):
    """What the profile service answers to a batch (events or orders)."""

    accepted: int
    duplicates: int

    @property
    def rejected(self) -> Sequence[_ServiceRejection]: ...

    @property
    def outcomes(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class Sorted(Generic[Item]):
    """A batch split by shape: the well-formed items with their positions, the others' faults."""

    sound: list[tuple[int, Item]]
    rejected: dict[int, list[FieldError]]

    @property
    def positions(self) -> list[int]:
        return [index for index, _ in self.sound]


@dataclass(frozen=True)
class ItemShape(Generic[Item]):
    """How the items of a batch field (``name``: events, orders, refunds) are shaped."""

    name: str
    model: type[Item]
    as_list: TypeAdapter[list[Item]]
    outcome_names: Mapping[int, Outcome]

    def sort(self, raw_items: list[object]) -> Sorted[Item]:
        """The well-formed items and each malformed one's faults, named by the client's positions."""
        try:  # one pass over the whole list when every item is well formed (the usual case) ...
            return Sorted(list(enumerate(self.as_list.validate_python(raw_items))), {})
        except ValidationError:  # ... else item by item, so that each bad one is rejected alone
            pass
        sound: list[tuple[int, Item]] = []
        rejected: dict[int, list[FieldError]] = {}
        for index, raw in enumerate(raw_items):
            try:
                sound.append((index, self.model.model_validate(raw)))
            except ValidationError as error:
                rejected[index] = [
                    FieldError(
                        field=field_path(("body", self.name, index, *e["loc"])),
                        message=message_for(e),
                    )
                    for e in error.errors()
                ]
        return Sorted(sound, rejected)

    def answer(self, count: int, batch: Sorted[Item], response: BatchAnswer | None) -> BatchRecorded:
        """The REST answer: the service's outcomes and faults at the positions the client sent."""
        positions = batch.positions
        rejected = dict(batch.rejected)
        results: list[Outcome] = ["rejected"] * count
        accepted = duplicates = 0
        if response is not None:
            accepted, duplicates = response.accepted, response.duplicates
            for sent_index, outcome in enumerate(response.outcomes):
                results[positions[sent_index]] = self.outcome_names[outcome]
            for item in response.rejected:
                index = positions[item.index]
                rejected[index] = [
                    FieldError(field=self._renumber(e.field, item.index, index), message=e.message)
                    for e in item.errors
                ]
        return BatchRecorded(
            accepted=accepted,
            duplicates=duplicates,
            rejected=[RejectedItem(index=i, errors=rejected[i]) for i in sorted(rejected)],
            results=results,
        )

    def _renumber(self, field: str, sent_index: int, index: int) -> str:
        """A service field path about the ``sent_index``-th item sent, as the client numbered it."""
        sent = f"{self.name}[{sent_index}]"
        return f"{self.name}[{index}]{field[len(sent) :]}" if field.startswith(sent) else field
