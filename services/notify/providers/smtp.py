"""Provider ``smtp``: e-mail through the tenant's SMTP server with aiosmtplib.

Each message is a ``multipart/alternative`` (text, plus HTML when the template has it) with a
deterministic ``Message-ID`` built from our message id (so a duplicate is recognisable in the mailbox)
and, for marketing, ``List-Unsubscribe: <url>`` + ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058: the mailbox provider POSTs to the link to unsubscribe in one click, no page to fill in).

Sessions are reused: a small pool of authenticated connections (STARTTLS or implicit TLS), so a campaign
costs one TCP + TLS handshake + AUTH per connection rather than per message. A connection idle for a
while is probed with NOOP before use, and any error discards it.

Answers (RFC 5321 reply codes): a recipient refused with 550/551/553 is a hard bounce (refused: the
mailbox does not exist); other 5xx fail; 4xx (greylisting, mailbox busy) are retried; 535 (bad
credentials) fails; connection failures, timeouts and disconnects are retried.

Not idempotent: SMTP has no idempotency key; a disconnect after the final ``.`` may leave a delivered
copy we did not learn about (the worker records a crash there as ``outcome_unknown``).
"""

from __future__ import annotations

import asyncio
import email.policy
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from services.notify.domain.delivery import Accepted, Failed, Outcome, Outgoing, Refused, Retry
from services.notify.providers._http import guard_outcome
from services.notify.providers.ssrf import AddressGuard

HARD_BOUNCE = frozenset({550, 551, 553})
IDLE_PROBE_SECONDS = 15.0
DEFAULT_POOL = 4


# Headers are folded only beyond RFC 5322's hard limit of 998 characters: a one-click unsubscribe URL
# is one long token, and at the default 78 the email package would write it as an RFC 2047 encoded
# word, which mail clients do not read as a List-Unsubscribe link.
_POLICY = email.policy.default.clone(max_line_length=998)
_WIRE = _POLICY.clone(linesep="\r\n")


def wire_bytes(mail: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends, headers folded only past 998 characters."""
    return mail.as_bytes(policy=_WIRE)


def build_message(message: Outgoing, sender: str) -> EmailMessage:
    """The MIME message for ``message`` from ``sender`` (``"Name <addr>"`` or ``addr``)."""
    mail = EmailMessage(policy=_POLICY)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "patron.invalid"
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject or ""
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.message_id}@{domain}>"
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.body)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


class _Session:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.used = time.monotonic()


class SmtpProvider:
    """Sends through one SMTP server over a pool of at most ``pool_size`` sessions."""

    idempotent = False

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        tls: bool = False,
        timeout: float = 30.0,
        pool_size: int = DEFAULT_POOL,
        tls_context: ssl.SSLContext | None = None,
        guard: AddressGuard | None = None,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.tls, self.timeout = starttls and not tls, tls, timeout
        self.tls_context = tls_context  # None: the system's trust store (tests pass their own CA)
        self.guard = guard  # the SMTP host is tenant-chosen too: no relaying into our network
        self._idle: list[_Session] = []
        self._slots = asyncio.Semaphore(pool_size)
        self._closed = False

    async def _connect(self) -> _Session:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.tls,
            start_tls=self.starttls,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        await client.connect()  # EHLO, STARTTLS, EHLO again and AUTH when credentials are set
        return _Session(client)

    async def _session(self) -> _Session:
        while self._idle:
            session = self._idle.pop()
            if not session.client.is_connected:
                continue
            if time.monotonic() - session.used < IDLE_PROBE_SECONDS:
                return session
            try:
                await session.client.noop()
                return session
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                await _close(session)
        return await self._connect()

    async def send(self, message: Outgoing) -> Outcome:
        """Send one e-mail on a pooled session; never raises for the server's answers."""
        if self.guard is not None:
            unsafe = await guard_outcome(self.guard, f"https://{self.host}:{self.port}/")
            if unsafe is not None:
                return unsafe
        mail = build_message(message, self.sender)
        async with self._slots:
            session: _Session | None = None
            try:
                session = await self._session()
                # Flattened here with our policy: aiosmtplib's own would fold at 78 characters.
                await session.client.sendmail(parseaddr(self.sender)[1], [message.to], wire_bytes(mail))
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._release(session)
                return _recipient_outcome(exc)
            except aiosmtplib.SMTPAuthenticationError as exc:
                await _close(session)
                return Failed(f"smtp authentication failed: {exc.code} {exc.message}")
            except aiosmtplib.SMTPResponseException as exc:
                await _close(session)
                text = f"smtp {exc.code} {exc.message}"
                return Retry(text) if 400 <= exc.code < 500 else Failed(text)
            except aiosmtplib.SMTPNotSupported as exc:
                await _close(session)
                return Failed(f"smtp server lacks a required feature: {exc}")
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                await _close(session)
                return Retry(f"smtp connection: {type(exc).__name__}: {exc}")
            self._release(session)
            return Accepted(str(mail["Message-ID"]))

    def _release(self, session: _Session | None) -> None:
        if session is None:
            return
        session.used = time.monotonic()
        if self._closed or not session.client.is_connected:
            session.client.close()
        else:
            self._idle.append(session)

    async def aclose(self) -> None:
        """QUIT every idle session."""
        self._closed = True
        idle, self._idle = self._idle, []
        for session in idle:
            await _close(session)


async def _close(session: _Session | None) -> None:
    if session is None:
        return
    try:
        if session.client.is_connected:
            await asyncio.wait_for(session.client.quit(), 5)
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        pass
    finally:
        session.client.close()


def _recipient_outcome(exc: aiosmtplib.SMTPRecipientsRefused) -> Outcome:
    refused = exc.recipients[0] if exc.recipients else None
    code = refused.code if refused is not None else 0
    text = f"smtp recipient refused: {code} {refused.message if refused else ''}".strip()
    if code in HARD_BOUNCE:
        return Refused(text)
    if 400 <= code < 500:
        return Retry(text)
    return Failed(text)
