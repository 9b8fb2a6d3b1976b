"""The producer's gRPC event stream: positioned events after a consumer's positions, in batches.

It wakes on the sequencer's NOTIFY (milliseconds after a commit), sends a heartbeat when caught
up, and refuses a consumer whose position the retention has already pruned past.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
from grpc import aio

from patron.events.v1 import envelope_pb2, envelope_pb2_grpc
from services.runtime.database import Database
from services.runtime.errors import Conflict, FieldViolation, InvalidArgument
from services.runtime.events.outbox_reader import OutboxReader, PartitionHead, SequencedRow
from services.runtime.events.signals import SEQUENCED_CHANNEL, Listener
from services.runtime.events.stream_wire import EVENT_FRAME_BYTES, positioned_event, response_bytes
from services.runtime.server import Registration

STREAM_SERVICE = "patron.events.v1.EventStream"
STREAM_METHODS = frozenset({f"/{STREAM_SERVICE}/Subscribe", f"/{STREAM_SERVICE}/GetHeads"})
MAX_BATCH = 1000
DEFAULT_BATCH = 500
# A response holds events up to about this many bytes (always at least one event): a window of a
# thousand events with properties near their 8 KiB limit would pass gRPC's 4 MiB default for a
# received message, and the consumer would fail on the same window at every retry.
MAX_RESPONSE_BYTES = 1024 * 1024
BEHIND_RETENTION = "BEHIND_RETENTION"


class EventStreamServicer(envelope_pb2_grpc.EventStreamServicer):
    """Serves ``patron.events.v1.EventStream`` from this producer's outbox."""

    def __init__(
        self,
        producer: str,
        database: Database,
        listener: Listener,
        partitions: int,
        *,
        heartbeat_seconds: float = 1.0,
        coalesce_seconds: float = 0.02,
    ) -> None:
        self._producer = producer
        self._reader = OutboxReader(database)
        self._sequenced = listener.signals[SEQUENCED_CHANNEL]
        self._partitions = partitions
        self._heartbeat = heartbeat_seconds
        self._coalesce = coalesce_seconds

    def _validate(self, request: envelope_pb2.SubscribeRequest) -> tuple[dict[int, int], list[str], int]:
        errors: list[tuple[str, str]] = []
        if not request.consumer:
            errors.append(("consumer", "is required"))
        afters: dict[int, int] = {}
        for index, item in enumerate(request.partitions):
            if not 0 <= item.partition < self._partitions:
                errors.append((f"partitions[{index}].partition", f"must be 0..{self._partitions - 1}"))
            elif item.partition in afters:
                errors.append((f"partitions[{index}].partition", "is repeated"))
            elif item.after_position < 0:
                errors.append((f"partitions[{index}].after_position", "must not be negative"))
            else:
                afters[item.partition] = item.after_position
        if not request.partitions:
            errors.append(("partitions", "at least one partition is required"))
        batch = request.max_batch or DEFAULT_BATCH
        if not 1 <= batch <= MAX_BATCH:
            errors.append(("max_batch", f"must be 1..{MAX_BATCH}"))
        if errors:
            raise InvalidArgument([FieldViolation(f, m) for f, m in errors])
        return afters, list(request.types), batch

    @staticmethod
    def _check_retention(afters: dict[int, int], heads: dict[int, PartitionHead]) -> None:
        behind = sorted(p for p, after in afters.items() if after < heads[p].pruned_through)
        if behind:
            raise Conflict(
                "the consumer's position is older than the retained events of partitions "
                + ", ".join(map(str, behind)),
                reason=BEHIND_RETENTION,
                metadata={"partitions": ",".join(map(str, behind))},
            )

    async def Subscribe(  # yields the response's wire bytes (stream_wire)
        self, request: envelope_pb2.SubscribeRequest, context: aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        afters, types, batch = self._validate(request)
        partitions = sorted(afters)
        per_partition = max(1, batch // len(partitions))
        loop = asyncio.get_running_loop()
        last_sent = 0.0
        while True:
            version = self._sequenced.version
            heads = await self._reader.heads(partitions)
            self._check_retention(afters, heads)
            # A read looks at no more than per_partition positions of a partition (positions are
            # dense), whatever the plan: a plan made while the positions table was small once
            # fetched a lagging consumer's whole backlog to sort it and keep 31 (docs/performance.md).
            windows = {p: min(heads[p].last_position, afters[p] + per_partition) for p in partitions}
            rows = await self._reader.events_after(afters, windows, types, per_partition)
            # Pruning between the two reads would have raised pruned_through past a position.
            self._check_retention(afters, await self._reader.heads(partitions))
            events, cut = within_budget(rows, MAX_RESPONSE_BYTES)
            response = envelope_pb2.SubscribeResponse()  # the progress; the events go in as bytes
            more = bool(cut)
            for partition in partitions:
                head = heads[partition].last_position
                # every position of the window was read, or up to the last event sent
                scanned = windows[partition]
                if partition in cut:
                    last = cut[partition]
                    scanned = afters[partition] if last is None else last
                more = more or scanned < head
                progressed = scanned != afters[partition]
                afters[partition] = scanned
                if progressed or events or loop.time() - last_sent >= self._heartbeat:
                    response.progress.add(partition=partition, scanned_through=scanned, head=head)
            if events or response.progress:
                yield response_bytes(events, response)
                last_sent = loop.time()
            if not more and await self._sequenced.wait_after(version, self._heartbeat) and self._coalesce:
                await asyncio.sleep(self._coalesce)  # gather what else was sequenced meanwhile

    async def GetHeads(
        self, request: envelope_pb2.GetHeadsRequest, context: aio.ServicerContext
    ) -> envelope_pb2.GetHeadsResponse:
        heads = await self._reader.heads(range(self._partitions))
        response = envelope_pb2.GetHeadsResponse(producer=self._producer, partition_count=self._partitions)
        for partition, row in sorted(heads.items()):
            head = response.partitions.add(
                partition=partition, head=row.last_position, pruned_through=row.pruned_through
            )
            if row.last_sequenced_at is not None:
                head.head_sequenced_at.FromDatetime(row.last_sequenced_at)
        return response


def within_budget(rows: Sequence[SequencedRow], budget: int) -> tuple[list[bytes], dict[int, int | None]]:
    """The positioned events of ``rows`` that fit in ``budget`` bytes, at least one, and for each
    partition whose rows did not all fit, the position of its last event sent (None when none was).

    The partitions take turns (the first event of each, then the second of each, ...), so that a
    backlog of large events in one partition does not hold back the others' events; each partition's
    events stay in position order, which is the only order a consumer relies on."""
    placed = [positioned_event(row.envelope, row.partition, row.position, row.sequenced_at) for row in rows]
    if sum(map(len, placed)) + EVENT_FRAME_BYTES * len(placed) <= budget:  # the usual case: all fit
        return placed, {}
    turn: dict[int, int] = {}
    turns = []
    for index, row in enumerate(rows):
        turn[row.partition] = turn.get(row.partition, -1) + 1
        turns.append((turn[row.partition], row.partition, row.position, index))
    events: list[bytes] = []
    sent: dict[int, int] = {}
    cut: dict[int, int | None] = {}
    size = 0
    for _, partition, position, index in sorted(turns):
        if partition in cut:
            continue
        event = placed[index]
        framed = len(event) + EVENT_FRAME_BYTES
        if events and size + framed > budget:
            cut[partition] = sent.get(partition)
            continue
        size += framed
        events.append(event)
        sent[partition] = position
    return events, cut


def _add_stream_servicer(servicer: EventStreamServicer, server: grpc.aio.Server) -> None:
    """The generated ``add_EventStreamServicer_to_server``, but ``Subscribe`` has no response
    serialiser: it yields the serialised response itself (``stream_wire``)."""
    handlers = {
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            servicer.Subscribe,
            request_deserializer=envelope_pb2.SubscribeRequest.FromString,
            response_serializer=None,
        ),
        "GetHeads": grpc.unary_unary_rpc_method_handler(
            servicer.GetHeads,
            request_deserializer=envelope_pb2.GetHeadsRequest.FromString,
            response_serializer=envelope_pb2.GetHeadsResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(STREAM_SERVICE, handlers),))
    server.add_registered_method_handlers(STREAM_SERVICE, handlers)


def stream_registration(servicer: EventStreamServicer) -> Registration:
    return Registration(_add_stream_servicer, servicer, STREAM_SERVICE)
