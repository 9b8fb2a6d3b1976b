"""Links in messages: the open pixel, click redirects and the unsubscribe link, as signed tokens.

A token is ``<payload>.<signature>``, both base64url: the payload names the kind (``o`` open, ``c``
click, ``u`` unsubscribe), the tenant, the message, the expiry (Unix seconds) and, for a click, the
target URL; the signature is HMAC-SHA256 under notify's link key. A forged or altered token is
refused, an expired one answers as if unknown, and the target of a click is only ever the URL the
message itself carried — the redirect cannot be turned into an open redirect.

Opens are an upper bound: mail clients that block images hide real opens, and privacy proxies
(Apple Mail Privacy Protection, Gmail's image proxy) fetch every pixel at delivery. Requests from
scanners and prefetchers are left out by their usual signals (``is_automated``), but an open rate
stays an estimate; clicks are the reliable engagement signal (docs/notify.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

OPEN, CLICK, UNSUBSCRIBE = "o", "c", "u"
TRACKING_LIFETIME = timedelta(days=90)
UNSUBSCRIBE_LIFETIME = timedelta(days=365)
MAX_TOKEN = 4_096

# User agents of link scanners, security gateways and prefetchers (substrings, lower case).
_AUTOMATED = (
    "bot",
    "crawler",
    "spider",
    "preview",
    "prefetch",
    "scanner",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "trend micro",
    "urldefense",
    "safelinks",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)


@dataclass(frozen=True)
class LinkToken:
    kind: str
    tenant_id: uuid.UUID
    message_id: uuid.UUID
    expires: int
    url: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks the tokens of one link key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def token(
        self, kind: str, tenant_id: uuid.UUID, message_id: uuid.UUID, now: datetime, url: str | None = None
    ) -> str:
        """A signed token for one link of one message."""
        lifetime = UNSUBSCRIBE_LIFETIME if kind == UNSUBSCRIBE else TRACKING_LIFETIME
        body = [kind, str(tenant_id), str(message_id), int((now + lifetime).timestamp())]
        if url is not None:
            body.append(url)
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def verify(self, token: str, kind: str, now: datetime | None = None) -> LinkToken | None:
        """The token's content when it is genuine, of ``kind`` and unexpired; else None."""
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            return None
        encoded, signature = token.split(".")
        try:
            payload = _unb64(encoded)
            if not hmac.compare_digest(self._sign(payload), signature):
                return None
            body = json.loads(payload)
            parsed = LinkToken(body[0], uuid.UUID(body[1]), uuid.UUID(body[2]), int(body[3]), *body[4:5])
        except (ValueError, IndexError, TypeError):
            return None
        moment = now or datetime.now(UTC)
        if parsed.kind != kind or parsed.expires < moment.timestamp():
            return None
        return parsed


def tenant_of(token: str) -> uuid.UUID | None:
    """The tenant a token names, unverified: the gateway routes with it, notify verifies."""
    try:
        body = json.loads(_unb64(token.split(".")[0]))
        return uuid.UUID(body[1])
    except (ValueError, IndexError, TypeError):
        return None


def is_automated(user_agent: str, method: str) -> bool:
    """Whether a request is a scanner's or a prefetcher's rather than the customer's."""
    agent = user_agent.lower()
    return method.upper() == "HEAD" or not agent or any(marker in agent for marker in _AUTOMATED)


def tracked_html(
    html: str, signer: LinkSigner, base_url: str, tenant_id: uuid.UUID, message_id: uuid.UUID, now: datetime
) -> str:
    """An e-mail's HTML with each http(s) link through the click redirect and an open pixel added."""

    def rewrite(match: re.Match[str]) -> str:
        token = signer.token(CLICK, tenant_id, message_id, now, url=match.group(3))
        return f"{match.group(1)}{match.group(2)}{base_url}/t/c/{token}{match.group(2)}"

    pixel_token = signer.token(OPEN, tenant_id, message_id, now)
    pixel = f'<img src="{base_url}/t/o/{pixel_token}" width="1" height="1" alt="" style="display:none">'
    rewritten = _HREF.sub(rewrite, html)
    closing = rewritten.lower().rfind("</body>")
    if closing == -1:
        return rewritten + pixel
    return rewritten[:closing] + pixel + rewritten[closing:]


def unsubscribe_url(
    signer: LinkSigner, base_url: str, tenant_id: uuid.UUID, message_id: uuid.UUID, now: datetime
) -> str:
    """The one-click unsubscribe link of a message (RFC 8058's List-Unsubscribe target)."""
    return f"{base_url}/u/{signer.token(UNSUBSCRIBE, tenant_id, message_id, now)}"
