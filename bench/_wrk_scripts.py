"""The request bodies of ``bench.identify`` and ``bench.ingest`` as wrk Lua (see :mod:`bench._wrk`).

Each workload defines ``start_thread()`` (called once per wrk thread), ``make_body()`` and
``on_ok(body)``, and says which of its counters carry over from the warm-up run to the measured one:
wrk cannot leave calls out of its statistics, so the warm-up is a run of its own, and the measured run
continues where the warm-up's threads stopped (the same customer indexes, the same event sequence).

What Lua cannot do like the Python generators:

- **identify**: a response cannot be matched to the request it answers (wrk tells the script the
  status and body, not the connection), so a customer counts as created, and may be identified again,
  once ``connections`` more new customers have been sent after it by the same thread (about two
  rounds of every connection later), instead of once its answer was read. A customer whose creation
  failed may so be picked again (and then be created by that call). Re-identification starts once a
  thread has 4 such customers per connection, as in the Python generator. The draws come from
  LuaJIT's ``math.random`` (seeded by ``--seed`` and the thread), not Python's ``random``: the same
  distribution, another sequence. Index ``n`` of thread ``t`` is customer ``n * threads + t``, so
  threads never collide, as the Python generator's processes do not.
- **events**: ``occurred_at`` has whole seconds (Lua has no finer clock), and event ids are
  ``<phase>-<thread>-<sequence>-<i>`` (the Python generator's are ``<phase>-<caller>-<sequence>-<i>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IDENTIFY_LUA = r"""
-- identify: a new customer with probability NEW_RATIO, else one this thread created before.
function start_thread()
  new_sent = START_NEW[thread_id + 1] or 0
end

function make_body()
  local settled = new_sent - CONNECTIONS_PER_THREAD
  local index
  if settled < KNOWN_PER_CALLER * CONNECTIONS_PER_THREAD or math.random() < NEW_RATIO then
    index = new_sent * THREADS + thread_id
    new_sent = new_sent + 1
  else
    index = math.random(0, settled - 1) * THREADS + thread_id
  end
  local digits = (index * PHONE_STRIDE + PHONE_OFFSET) % PHONE_SPACE
  return string.format(
    '{"identities":[{"type":"phone","value":"+86139%08d"},{"type":"email","value":"u%d@bench.example"}]}',
    digits, index)
end

function on_ok(body)
  if string.find(body, '"created":true', 1, true) then created = created + 1 end
end
"""

EVENTS_LUA = r"""
-- events: BATCH new events a call, each naming one of CUSTOMERS uniformly.
function start_thread()
  seq = START_SEQ[thread_id + 1] or 0
end

function make_body()
  local now = os.date("!%Y-%m-%dT%H:%M:%S+00:00")
  local parts = {}
  for i = 0, BATCH - 1 do
    parts[i + 1] = string.format(
      '{"event_id":"%s-%d-%d-%d","type":"%s","occurred_at":"%s","customer_id":"%s",' ..
      '"properties":{"sku":"SKU-%d","price_minor":%d}}',
      LABEL, thread_id, seq, i, EVENT_TYPES[math.random(#EVENT_TYPES)], now,
      CUSTOMERS[math.random(#CUSTOMERS)], math.random(0, 4999), math.random(100, 99999))
  end
  seq = seq + 1
  return '{"events":[' .. table.concat(parts, ",") .. ']}'
end

function on_ok(body)
  local n = tonumber(string.match(body, '"accepted":(%d+)'))
  if n then
    accepted = accepted + n
    not_accepted = not_accepted + (BATCH - n)
  else
    not_accepted = not_accepted + BATCH
  end
end
"""


def identify_params(
    *,
    new_ratio: float,
    known_per_caller: int,
    phone_offset: int,
    phone_stride: int,
    phone_space: int,
    start_new: Sequence[int] = (),
) -> dict[str, Any]:
    """The parameters of :data:`IDENTIFY_LUA`; ``start_new``: each thread's new customers so far
    (from the warm-up's result), empty for a fresh start."""
    return {
        "NEW_RATIO": new_ratio,
        "KNOWN_PER_CALLER": known_per_caller,
        "PHONE_OFFSET": phone_offset,
        "PHONE_STRIDE": phone_stride,
        "PHONE_SPACE": phone_space,
        "START_NEW": list(start_new),
    }


def events_params(
    *,
    batch: int,
    label: str,
    customers: Sequence[str],
    event_types: Sequence[str],
    start_seq: Sequence[int] = (),
) -> dict[str, Any]:
    """The parameters of :data:`EVENTS_LUA`; ``label`` (the phase) starts every event id, and
    ``start_seq`` carries each thread's call sequence over from the warm-up (so ids stay new)."""
    if not customers:
        raise ValueError("events need at least one customer")
    return {
        "BATCH": batch,
        "LABEL": label,
        "CUSTOMERS": list(customers),
        "EVENT_TYPES": list(event_types),
        "START_SEQ": list(start_seq),
    }


def carried(threads: Sequence[dict[str, int]], key: str) -> list[int]:
    """Each thread's counter ``key`` (``new_sent``, ``seq``) at the end of a run, for the next."""
    return [int(thread.get(key, 0)) for thread in threads]
