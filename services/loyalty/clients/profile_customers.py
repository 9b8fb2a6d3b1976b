"""Profile's ``CustomerService`` as loyalty asks it: a customer's survivor and birthday.

Implements ``services.loyalty.domain.customers.CustomerSource``. Each call carries the tenant in
the metadata and a short deadline; profile's silence is UNAVAILABLE, never a wrong answer.
"""

from __future__ import annotations

import uuid

import grpc

from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.runtime.errors import NotFound, Unavailable
from services.runtime.proto_convert import optional_text
from services.runtime.tenancy import TENANT_METADATA_KEY

PROFILE_DEADLINE_SECONDS = 2.0


class ProfileCustomers:
    """The profile client of the loyalty service."""

    def __init__(self, profile: profile_pb2_grpc.CustomerServiceStub) -> None:
        self._profile = profile

    async def _get(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> profile_pb2.Customer:
        answer: profile_pb2.Customer = await self._profile.GetCustomer(
            profile_pb2.GetCustomerRequest(customer_id=str(customer_id)),
            timeout=PROFILE_DEADLINE_SECONDS,
            metadata=((TENANT_METADATA_KEY, str(tenant_id)),),
        )
        return answer

    async def survivor_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> uuid.UUID:
        """The survivor profile answers for the id; NotFound when it knows no such customer."""
        try:
            answer = await self._get(tenant_id, customer_id)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound("customer not found") from None
            raise Unavailable(f"the profile service did not answer ({error.code().name})") from None
        return uuid.UUID(answer.customer_id)

    async def birthday_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> str | None:
        """The customer's birthday as ``MM-DD`` (the year is not kept), or None when unknown.

        Asked when a customer event carries no segment attributes (one written before they
        travelled); the others carry the birthday. Only the month and day are stored, for the
        birthday multiplier.
        """
        try:
            answer = await self._get(tenant_id, customer_id)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"the profile service did not answer ({error.code().name})") from None
        birthday = optional_text(answer.attributes, "birthday")
        if answer.merged_into or birthday is None:
            return None
        return birthday[5:10] or None
