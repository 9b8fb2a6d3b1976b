"""ContactService: masked contacts of a batch of customers. Converts and delegates only."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import contacts_pb2, contacts_pb2_grpc
from services.profile.domain.contacts import ContactDirectory
from services.profile.store.contacts import SqlContactStore
from services.runtime.database import Database
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CONTACT_SERVICE = "patron.profile.v1.ContactService"


class ContactServicer(contacts_pb2_grpc.ContactServiceServicer):
    """Every call acts for the tenant of its metadata: another tenant's ids simply have no entry."""

    def __init__(self, directory: ContactDirectory) -> None:
        self._directory = directory

    async def MaskedContacts(
        self, request: contacts_pb2.MaskedContactsRequest, context: aio.ServicerContext
    ) -> contacts_pb2.MaskedContactsResponse:
        contacts = await self._directory.masked(current_tenant(), list(request.customer_ids))
        return contacts_pb2.MaskedContactsResponse(
            contacts=[
                contacts_pb2.MaskedContact(
                    customer_id=str(contact.customer_id), phone=contact.phone or "", email=contact.email or ""
                )
                for contact in contacts
            ]
        )


def contacts_registration(database: Database) -> Registration:
    """The ContactService, assembled on the profile database."""
    return Registration(
        contacts_pb2_grpc.add_ContactServiceServicer_to_server,
        ContactServicer(ContactDirectory(SqlContactStore(database))),
        CONTACT_SERVICE,
    )
