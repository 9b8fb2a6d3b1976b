"""Operators' session cookies and their CSRF token.

A session token (``pts_`` + 256 random bits) is made here at sign-in and lives only in the browser's
``patron_session`` cookie (HttpOnly, SameSite=Strict, Path=/, Secure): the profile service keeps its
SHA-256. Writes authenticated by that cookie must send ``X-CSRF-Token``, whose value the sign-in
answers and the ``patron_csrf`` cookie (readable by the dashboard's script) holds: an HMAC of the
session token, so it cannot be guessed, nor planted by another site (which could set a cookie, but
not know the session it belongs to). Decisions: docs/security.md, "Operators and sessions".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import Request, Response
from starlette.exceptions import HTTPException

SESSION_COOKIE = "patron_session"
CSRF_COOKIE = "patron_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_PREFIX = "pts_"
SAME_SITE: Literal["strict"] = "strict"
CSRF_INVALID = "CSRF_TOKEN_INVALID"


def new_session_token() -> tuple[str, str]:
    """A new session token and its SHA-256 (hex), which is all the profile service ever sees."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    return token, session_digest(token)


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: derived from the session's secret, so bound to it."""
    mac = hmac.new(session_token.encode(), b"patron-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class CsrfRefused(HTTPException):
    """403 for a cookie-authenticated write without the session's ``X-CSRF-Token``."""

    def __init__(self) -> None:
        super().__init__(
            403,
            f"a write signed in by the session cookie must send the {CSRF_HEADER} header equal to the "
            f"{CSRF_COOKIE} cookie (CSRF protection)",
        )
        self.extensions = {"reason": CSRF_INVALID}


def check_csrf(request: Request, session_token: str) -> None:
    """Raise :class:`CsrfRefused` unless the request's header is the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token_for(session_token).encode()):
        raise CsrfRefused()


def session_token(request: Request) -> str:
    """The session cookie's value, or "" (a value that is no session token of ours counts as none)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    return token if token.startswith(SESSION_PREFIX) and len(token) <= 128 else ""


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """Whether a cookie may go without ``Secure``: only in development and tests, over plain http (a
    browser would drop a Secure cookie there, except on localhost). In production always Secure."""

    allow_insecure_http: bool

    def secure(self, request: Request) -> bool:
        return not (self.allow_insecure_http and request.url.scheme == "http")

    def set(self, response: Response, request: Request, token: str, expires_at: datetime) -> None:
        """Set the session cookie (HttpOnly) and its CSRF cookie (readable by script), both ending
        with the session."""
        max_age = max(0, int((expires_at - datetime.now(UTC)).total_seconds()))
        for name, value, http_only in (
            (SESSION_COOKIE, token, True),
            (CSRF_COOKIE, csrf_token_for(token), False),
        ):
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=self.secure(request),
                httponly=http_only,
                samesite=SAME_SITE,
            )

    def clear(self, response: Response, request: Request) -> None:
        """Tell the browser to drop both cookies."""
        for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
            response.delete_cookie(
                name, path="/", secure=self.secure(request), httponly=http_only, samesite=SAME_SITE
            )
