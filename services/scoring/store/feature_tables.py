"""Tables of the scoring service's feature capability (declared on the shared metadata)."""

import sqlalchemy as sa  # noqa: F401

from services.scoring.store.tables import metadata  # noqa: F401
