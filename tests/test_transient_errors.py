"""A momentary database error (a statement timeout, a lost serialization race) is 'retry', not a bug."""

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from services.runtime.database import Database, create_engine, is_transient


async def _run(database: Database, *statements: str) -> None:
    async with database.transaction() as connection:
        for statement in statements:
            await connection.execute(sa.text(statement))


async def test_a_statement_timeout_is_transient(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["notify"], application_name="patron-test"))
    try:
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await _run(database, "SET LOCAL statement_timeout = 20", "SELECT pg_sleep(1)")
        assert is_transient(caught.value)
    finally:
        await database.engine.dispose()


async def test_a_constraint_violation_is_not_transient(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["notify"], application_name="patron-test"))
    try:
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await _run(database, "SELECT 1 / 0")
        assert not is_transient(caught.value)
        assert not is_transient(ValueError("not a database error"))
    finally:
        await database.engine.dispose()
