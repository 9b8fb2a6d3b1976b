"""Keeping the objects built at start-up out of the garbage collector's full collections.

A process's start-up builds a large heap that lives as long as the process: modules, the FastAPI
app and its pydantic schemas, protobuf descriptors, SQLAlchemy metadata (about 218,000 objects in
the gateway). CPython's oldest-generation collection walks all of it, and under load it runs again
and again: 35-41 ms each in the gateway on the two-core machine, during which the event loop answers
nothing. At 300 customer-360 calls a second that pause alone queues a dozen calls and, on a busy
machine, sent the run's p99 from about 12 ms to hundreds (docs/performance.md, "Pauses").
``gc.freeze()`` moves everything alive at that moment to a permanent generation that collections
skip; objects created later are collected as before, so nothing leaks that would not have leaked.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from future collections. Call it when the
    process has built what it keeps for its whole life, just before it starts serving."""
    gc.collect()
    gc.freeze()
