"""Tables of the loyalty service's membership capability (declared on the shared metadata)."""

import sqlalchemy as sa  # noqa: F401

from services.loyalty.store.tables import metadata  # noqa: F401
