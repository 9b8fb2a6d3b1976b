"""ContactService: masked contacts of a batch of customers, and notify's recipients of one.

Converts and delegates only.
"""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import contacts_pb2, contacts_pb2_grpc
from services.profile.domain.contacts import ContactDirectory
from services.profile.domain.recipients import Recipient, RecipientDirectory
from services.profile.store.contacts import SqlContactStore
from services.profile.store.pii import PiiCipher
from services.profile.store.recipients import SqlRecipientStore
from services.runtime.database import Database
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

CONTACT_SERVICE = "patron.profile.v1.ContactService"


class ContactServicer(contacts_pb2_grpc.ContactServiceServicer):
    """Every call acts for the tenant of its metadata: another tenant's ids have no entry among the
    masked contacts and are "unknown" among the recipients."""

    def __init__(self, directory: ContactDirectory, recipients: RecipientDirectory) -> None:
        self._directory = directory
        self._recipients = recipients

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

    async def Recipients(
        self, request: contacts_pb2.RecipientsRequest, context: aio.ServicerContext
    ) -> contacts_pb2.RecipientsResponse:
        recipients = await self._recipients.recipients(
            current_tenant(), list(request.customer_ids), request.channel, reveal=request.reveal
        )
        return contacts_pb2.RecipientsResponse(recipients=[_recipient(r) for r in recipients])


def _recipient(recipient: Recipient) -> contacts_pb2.Recipient:
    return contacts_pb2.Recipient(
        customer_id=str(recipient.customer_id),
        state=recipient.state,
        survivor_id=str(recipient.survivor_id) if recipient.survivor_id else "",
        contact=recipient.contact or "",
        contact_masked=recipient.contact_masked or "",
        timezone=recipient.timezone or "",
        nickname=recipient.nickname or "",
    )


def contacts_registration(database: Database, cipher: PiiCipher) -> Registration:
    """The ContactService, assembled on the profile database; the cipher opens the contacts that
    Recipients reveals (MaskedContacts never needs it)."""
    return Registration(
        contacts_pb2_grpc.add_ContactServiceServicer_to_server,
        ContactServicer(
            ContactDirectory(SqlContactStore(database)),
            RecipientDirectory(SqlRecipientStore(database, cipher)),
        ),
        CONTACT_SERVICE,
    )
