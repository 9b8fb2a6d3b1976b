"""Scoring's client of profile's ContactService: masked contacts for segment exports.

Implements the worker's ``ContactReader`` port (``domain/segments/export_worker.py``). Profile is
reached at ``PATRON_SCORING_PROFILE_ADDRESS`` on the channel scoring already keeps to it (see
``services/scoring/app.py``). A failed call becomes ``Unavailable`` naming the status, which the
worker records and retries with backoff; nothing of gRPC reaches the domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import grpc

from patron.profile.v1 import contacts_pb2, contacts_pb2_grpc
from services.runtime.errors import Unavailable
from services.runtime.tenancy import TENANT_METADATA_KEY
from services.scoring.domain.segments.export_worker import MaskedContact

DEADLINE_SECONDS = 10.0


def _text_or_none(value: str) -> str | None:
    return value or None


class ProfileContacts:
    """Calls profile for one tenant's batch at a time."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = contacts_pb2_grpc.ContactServiceStub(channel)

    async def masked(self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]) -> list[MaskedContact]:
        """The masked contacts of the tenant's live customers among ``customer_ids`` (≤ 1,000)."""
        try:
            answer = await self._stub.MaskedContacts(
                contacts_pb2.MaskedContactsRequest(customer_ids=[str(c) for c in customer_ids]),
                timeout=DEADLINE_SECONDS,
                metadata=((TENANT_METADATA_KEY, str(tenant_id)),),
            )
        except grpc.aio.AioRpcError as error:
            raise Unavailable(f"profile answered {error.code().name} for the members' contacts") from error
        return [
            MaskedContact(uuid.UUID(c.customer_id), _text_or_none(c.phone), _text_or_none(c.email))
            for c in answer.contacts
        ]
