"""The event stream's responses as protobuf wire bytes, built without parsing the stored envelopes.

Each outbox row holds its envelope already serialised. The stream used to parse every envelope into
a message, set its partition, position and sequenced_at, and let gRPC serialise it all again, for
each consumer that read it (serving the streams was a seventh of profile's samples under batch
ingest, that work part of it). Protobuf's wire format allows a cheaper way. Parsing concatenated
encodings of a message merges them, so the stored bytes followed by the encoding of the three
placing fields *are* the positioned envelope; and a repeated message field is its tag, a length and
the bytes, once per element. The stream's ``Subscribe`` handler is registered without a response
serialiser and yields these bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from patron.events.v1 import envelope_pb2
from services.runtime.proto_convert import to_timestamp

# SubscribeResponse.events is field 1, length-delimited: (1 << 3) | 2.
_EVENTS_TAG = b"\x0a"
# What ``response_bytes`` adds to an event at most: its tag and a length below 2**35 (5 varint bytes).
EVENT_FRAME_BYTES = len(_EVENTS_TAG) + 5


def varint(value: int) -> bytes:
    """A non-negative integer in protobuf's base-128 varint encoding (a length prefix)."""
    if value < 0:
        raise ValueError("a length is never negative")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def positioned_event(envelope: bytes, partition: int, position: int, sequenced_at: datetime) -> bytes:
    """A stored envelope's bytes, placed: parsed, it is the envelope with the three fields set."""
    placed = envelope_pb2.EventEnvelope(
        partition=partition, position=position, sequenced_at=to_timestamp(sequenced_at)
    )
    return envelope + placed.SerializeToString()


def response_bytes(events: Iterable[bytes], progress: envelope_pb2.SubscribeResponse) -> bytes:
    """A whole ``SubscribeResponse``: the positioned events, then ``progress``'s own fields."""
    parts: list[bytes] = []
    for event in events:
        parts += (_EVENTS_TAG, varint(len(event)), event)
    parts.append(progress.SerializeToString())
    return b"".join(parts)
