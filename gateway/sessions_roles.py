"""What an operator's role may do (DOMAIN.md §5), in the scopes that keys carry (API.md "Access").

- owner: everything, the API keys and the operators included;
- marketer: ``operate`` and ``read`` (segments, templates, journeys, campaigns, and what they read);
- analyst: ``operate`` and ``read`` for reading only: any other method than GET or HEAD is refused;
- support: ``read`` and ``points`` (customer 360, points adjustments), and the routes that name it
  besides their scope (consent: ``scoped("ingest", roles=("support",))``).

Routes for owners only (keys, operators) say ``scoped(..., owner_only=True)``. A refusal is 403
``problem+json`` with ``reason`` ROLE_FORBIDDEN and the ``role`` (and the ``scope`` when it is a scope
the role lacks). docs/security.md, "Operators and sessions", has the table.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.exceptions import HTTPException

OWNER = "owner"
ROLES = (OWNER, "marketer", "analyst", "support")
ROLE_SCOPES: dict[str, frozenset[str]] = {
    OWNER: frozenset({"ingest", "read", "points", "privacy", "operate", "audit"}),
    "marketer": frozenset({"operate", "read"}),
    "analyst": frozenset({"operate", "read"}),
    "support": frozenset({"read", "points"}),
}
READ_ONLY_ROLES = frozenset({"analyst"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_FORBIDDEN = "ROLE_FORBIDDEN"


class RoleForbidden(HTTPException):
    """403 for an operator whose role may not call the route; the problem names the role."""

    def __init__(self, role: str, detail: str, scope: str | None = None) -> None:
        super().__init__(403, detail)
        self.extensions: dict[str, str] = {"role": role, "reason": ROLE_FORBIDDEN}
        if scope is not None:
            self.extensions["scope"] = scope


def check_role(
    role: str, scope: str, method: str, *, owner_only: bool = False, also_roles: Collection[str] = ()
) -> None:
    """Let the operator's role through to a route of ``scope``, or raise :class:`RoleForbidden`."""
    if owner_only and role != OWNER:
        raise RoleForbidden(role, f"only an owner may call this route, not a {role}")
    if role in READ_ONLY_ROLES and method.upper() not in SAFE_METHODS:
        raise RoleForbidden(role, f"the role {role!r} may only read (GET)")
    if scope not in ROLE_SCOPES.get(role, frozenset()) and role not in also_roles:
        raise RoleForbidden(role, f"the role {role!r} lacks the scope {scope!r} that this route needs", scope)
