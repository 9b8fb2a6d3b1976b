"""Committing many messages in one transaction, each judged exactly as a single send is.

``commit_drafts`` commits every message notify sends — a single ``POST /v1/messages`` is a batch of
one — in the caller's transaction (a journey commits the batch's steps and advances in the same one),
in a fixed number of statements whatever the batch's size:

1. every dedupe key's lock, then every customer's lock — each set taken in the order of its lock key,
   the same two lock spaces as a single send, so batches and single sends never deadlock and never
   interleave on one customer;
2. messages already committed under the batch's dedupe keys answer their drafts (one send per key);
3. the policy's facts for every draft in one read (consent, suppressions, erasure, the marketing
   messages counted by the cap, the tenant's policy and zone);
4. ``policy.decide`` per draft, counting the batch's own earlier marketing messages for the same
   customer, so a cap of 2 holds inside a batch too;
5. one INSERT of every new message; ``message.suppressed`` events for those suppressed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.messages import MessageDraft, MessageView
from services.notify.domain.policy import Decision, Policy, Recipient, decide, parse_policy, recipient_zone
from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of, view_from_row
from services.runtime.events.outbox import Outbox

_LOCKS = sa.text(
    """
    SELECT count(*) FROM (
      SELECT pg_advisory_xact_lock(13, k) FROM (
        SELECT DISTINCT hashtext(CAST(t AS text) || d) AS k
        FROM unnest(CAST(:dedupe_tenants AS uuid[]), CAST(:dedupe_keys AS text[])) AS x(t, d)
        ORDER BY k
      ) AS keys
    ) AS dedupe_locks
    UNION ALL
    SELECT count(*) FROM (
      SELECT pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended(CAST(t AS text) || CAST(c AS text), 12) AS k
        FROM unnest(CAST(:tenants AS uuid[]), CAST(:customers AS uuid[])) AS y(t, c)
        ORDER BY k
      ) AS keys
    ) AS customer_locks
    """
)
"""Locks taken in key order (the ordered subquery feeds the calls), dedupe keys before customers."""

_EARLIER = sa.text(
    """
    SELECT m.* FROM messages AS m
    JOIN unnest(CAST(:tenants AS uuid[]), CAST(:keys AS text[])) AS k(tenant_id, dedupe_key)
      ON m.tenant_id = k.tenant_id AND m.dedupe_key = k.dedupe_key
    """
)

_FACTS = sa.text(
    """
    SELECT d.idx,
      (SELECT document FROM policies WHERE tenant_id = d.tenant) AS policy,
      (SELECT timezone FROM tenants WHERE tenant_id = d.tenant) AS tenant_zone,
      (SELECT granted FROM consents
        WHERE tenant_id = d.tenant AND customer_id = d.customer AND channel = d.channel
          AND purpose = d.purpose) AS consent,
      EXISTS (SELECT 1 FROM suppressions
        WHERE tenant_id = d.tenant AND customer_id = d.customer AND channel = d.channel
          AND scope IN ('', d.scope)) AS unsubscribed,
      EXISTS (SELECT 1 FROM customer_states
        WHERE tenant_id = d.tenant AND customer_id = d.customer AND erased_at IS NOT NULL) AS erased,
      ARRAY(SELECT created_at FROM messages
        WHERE tenant_id = d.tenant AND customer_id = d.customer AND purpose = 'marketing'
          AND status NOT IN ('suppressed', 'failed') AND created_at > :since) AS counted
    FROM unnest(CAST(:idx AS int[]), CAST(:tenants AS uuid[]), CAST(:customers AS uuid[]),
                CAST(:channels AS text[]), CAST(:purposes AS text[]), CAST(:scopes AS text[]))
      AS d(idx, tenant, customer, channel, purpose, scope)
    """
)

_COLUMNS = (
    ("message_id", "uuid"),
    ("tenant_id", "uuid"),
    ("customer_id", "uuid"),
    ("template_id", "uuid"),
    ("channel", "text"),
    ("purpose", "text"),
    ("sender", "text"),
    ("sender_ref", "text"),
    ("dedupe_key", "text"),
    ("status", "text"),
    ("reason", "text"),
    ("contact_masked", "text"),
    ("subject", "text"),
    ("body", "text"),
    ("html", "text"),
    ("provider_template", "text"),
    ("provider_params", "jsonb"),
    ("data", "jsonb"),
    ("created_at", "timestamptz"),
    ("due_at", "timestamptz"),
)

_INSERT = sa.text(
    "INSERT INTO messages ({names}) SELECT * FROM unnest({arrays}) RETURNING *".format(  # noqa: S608
        names=", ".join(name for name, _ in _COLUMNS),
        arrays=", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMNS),
    )
)

CAP_HORIZON = timedelta(days=91)
"""How far back the cap's count looks (the longest cap a policy may set, as a single send)."""


async def commit_drafts(
    connection: AsyncConnection, outbox: Outbox, drafts: Sequence[tuple[uuid.UUID, MessageDraft]]
) -> list[MessageView]:
    """Judge and commit ``(tenant, draft)`` pairs in the caller's transaction; a view per draft, in
    order (an earlier message of the same dedupe key answers its draft, ``deduplicated``)."""
    if not drafts:
        return []
    keyed = [(t, d.command.dedupe_key) for t, d in drafts if d.command.dedupe_key is not None]
    await connection.execute(
        _LOCKS,
        {
            "dedupe_tenants": [t for t, _ in keyed],
            "dedupe_keys": [k for _, k in keyed],
            "tenants": [t for t, _ in drafts],
            "customers": [d.customer_id for _, d in drafts],
        },
    )
    earlier: dict[tuple[uuid.UUID, str], MessageView] = {}
    if keyed:
        rows = await connection.execute(
            _EARLIER, {"tenants": [t for t, _ in keyed], "keys": [k for _, k in keyed]}
        )
        for row in rows:
            earlier[(row.tenant_id, row.dedupe_key)] = view_from_row(row, deduplicated=True)
    now = datetime.now(UTC)
    fresh = [i for i, (t, d) in enumerate(drafts) if (t, d.command.dedupe_key or "") not in earlier]
    decisions = await _decide(connection, drafts, fresh, now)
    inserted = await _insert(connection, drafts, decisions, now)
    suppressed = [
        change_of(row, "suppressed", row.reason, now)
        for row in inserted.values()
        if row.status == "suppressed"
    ]
    if suppressed:
        await publish(connection, outbox, suppressed)
    views: list[MessageView] = []
    for index, (tenant_id, draft) in enumerate(drafts):
        if index in inserted:
            row = inserted[index]
            views.append(view_from_row(row))
            if draft.command.dedupe_key is not None:
                earlier[(tenant_id, draft.command.dedupe_key)] = view_from_row(row, deduplicated=True)
        else:
            views.append(earlier[(tenant_id, draft.command.dedupe_key or "")])
    return views


async def _decide(
    connection: AsyncConnection,
    drafts: Sequence[tuple[uuid.UUID, MessageDraft]],
    fresh: list[int],
    now: datetime,
) -> dict[int, Decision]:
    """The policy's decision for each fresh draft; a dedupe key repeated inside the batch is decided
    (and inserted) once, for its first draft."""
    chosen: list[int] = []
    seen: set[tuple[uuid.UUID, str]] = set()
    for index in fresh:
        tenant_id, draft = drafts[index]
        key = draft.command.dedupe_key
        if key is not None:
            if (tenant_id, key) in seen:
                continue
            seen.add((tenant_id, key))
        chosen.append(index)
    if not chosen:
        return {}
    rows = await connection.execute(
        _FACTS,
        {
            "idx": chosen,
            "tenants": [drafts[i][0] for i in chosen],
            "customers": [drafts[i][1].customer_id for i in chosen],
            "channels": [drafts[i][1].template.channel for i in chosen],
            "purposes": [drafts[i][1].template.purpose for i in chosen],
            "scopes": [str(drafts[i][1].template.template_id) for i in chosen],
            "since": now - CAP_HORIZON,
        },
    )
    facts = {row.idx: row for row in rows}
    policies: dict[uuid.UUID, Policy] = {}
    counted: dict[tuple[uuid.UUID, uuid.UUID], list[datetime]] = {}
    decisions: dict[int, Decision] = {}
    for index in chosen:
        tenant_id, draft = drafts[index]
        fact = facts[index]
        if tenant_id not in policies:
            policies[tenant_id] = parse_policy(fact.policy) if fact.policy is not None else Policy()
        sent = counted.setdefault((tenant_id, draft.customer_id), list(fact.counted))
        recipient = Recipient(
            erased=fact.erased or draft.recipient.state == "erased",
            has_contact=draft.recipient.contact_masked is not None,
            unsubscribed=fact.unsubscribed,
            consent=fact.consent,
            zone=recipient_zone(draft.recipient.timezone, fact.tenant_zone),
        )
        decision = decide(draft.template.purpose, recipient, policies[tenant_id], sent, now)
        if decision.action != "suppress" and draft.rendered is None:
            decision = Decision("suppress", "missing_data")
        if decision.action != "suppress" and draft.template.purpose == "marketing":
            sent.append(now)  # the batch's own message counts for the customer's next draft
        decisions[index] = decision
    return decisions


async def _insert(
    connection: AsyncConnection,
    drafts: Sequence[tuple[uuid.UUID, MessageDraft]],
    decisions: dict[int, Decision],
    now: datetime,
) -> dict[int, Any]:
    """One INSERT for every decided draft; its row by the draft's index."""
    if not decisions:
        return {}
    columns: dict[str, list[Any]] = {name: [] for name, _ in _COLUMNS}
    order: list[int] = []
    for index, decision in decisions.items():
        tenant_id, draft = drafts[index]
        status = {"send": "queued", "defer": "deferred", "suppress": "suppressed"}[decision.action]
        rendered = draft.rendered if status != "suppressed" else None
        values: dict[str, Any] = {
            "message_id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "customer_id": draft.customer_id,
            "template_id": draft.template.template_id,
            "channel": draft.template.channel,
            "purpose": draft.template.purpose,
            "sender": draft.command.sender,
            "sender_ref": draft.command.sender_ref,
            "dedupe_key": draft.command.dedupe_key,
            "status": status,
            "reason": decision.reason,
            "contact_masked": draft.recipient.contact_masked,
            "subject": rendered.subject if rendered else None,
            "body": rendered.body if rendered else None,
            "html": rendered.html if rendered else None,
            "provider_template": draft.template.parts.provider_template if rendered else None,
            "provider_params": json.dumps(dict(rendered.provider_params)) if rendered else None,
            "data": json.dumps(dict(draft.command.data)) if rendered else None,
            "created_at": now,
            "due_at": now if status == "queued" else decision.until,
        }
        for name, value in values.items():
            columns[name].append(value)
        order.append(index)
    rows = {row.message_id: row for row in await connection.execute(_INSERT, columns)}
    return {index: rows[message_id] for index, message_id in zip(order, columns["message_id"], strict=True)}
