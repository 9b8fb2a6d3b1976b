"""Segments (scoring service): audiences selected by a condition over the facts scoring holds.

- `POST /v1/segments/preview` `{"condition", "sample_size"?}` → `{"count", "sample"}`: the exact
  number of the tenant's live customers meeting the condition now, and the first ``sample_size``
  (0-20, default 10) of their ids in id order — a spot check, never a member list.
- The condition is JSON data in the language of docs/segments.md (API.md "Segments"), never code:
  any string in it is only a value. The scoring service validates it; a faulty condition answers
  422 naming the path of every fault (``condition.all[2].op``), the limits (depth, leaves, list
  sizes) included.
- A preview heavier than the scoring service's time limit answers 503: narrow the condition.
"""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.dependencies import ERRORS, Scoring
from gateway.schemas import JsonObject, StrictBody
from patron.scoring.v1 import segments_pb2

router = APIRouter(prefix="/v1/segments", tags=["segments"])

MAX_SAMPLE = 20
"""The most ids a preview returns (the scoring service's own bound, stated in the schema)."""

CONDITION_EXAMPLE = {
    "all": [
        {"field": "attributes.gender", "op": "eq", "value": "female"},
        {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"},
    ]
}


class PreviewIn(StrictBody):
    condition: JsonObject = Field(
        description="a condition of the segment language (docs/segments.md): all/any/not of leaves",
        examples=[CONDITION_EXAMPLE],
    )
    sample_size: int = Field(
        default=10, ge=0, le=MAX_SAMPLE, description=f"how many customer ids to return (0-{MAX_SAMPLE})"
    )


class PreviewOut(BaseModel):
    count: int = Field(description="the tenant's live customers meeting the condition now, exactly")
    sample: list[uuid.UUID] = Field(description="the first sample_size of them, in id order")


@router.post("/preview", response_model=PreviewOut, responses=ERRORS)
async def preview_segment(body: PreviewIn, scoring: Scoring) -> PreviewOut:
    """Count a condition's audience and show a few of its members; 422 names every fault's path."""
    request = segments_pb2.PreviewSegmentRequest(
        condition_json=json.dumps(body.condition), sample_size=body.sample_size
    )
    answer = await scoring.segments.Preview(request)
    return PreviewOut(count=answer.count, sample=[uuid.UUID(item) for item in answer.sample])
