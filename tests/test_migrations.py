"""Every service's migrations upgrade and downgrade on a real database, and match the tables in code."""

import asyncio
import uuid

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from services.runtime import migrations
from services.runtime.settings import SERVICE_NAMES, asyncpg_url
from tests.support import PostgresServer


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def _differences(url: str, service: str) -> list[object]:
    module = __import__(f"services.{service}.store.tables", fromlist=["metadata"])
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), module.metadata)
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_upgrade_downgrade_upgrade(postgres: PostgresServer, service: str) -> None:
    name = f"patron_migrate_{service}_{uuid.uuid4().hex[:6]}"
    url = await postgres.create_database(name)
    try:
        await asyncio.to_thread(migrations.upgrade, service, url)
        assert "tenants" in await _tables(url)
        assert await _differences(url, service) == [], "the migrations and the tables in code disagree"
        await asyncio.to_thread(migrations.downgrade, service, url)
        assert await _tables(url) == {"alembic_version"}
        await asyncio.to_thread(migrations.upgrade, service, url)
        assert "tenants" in await _tables(url)
    finally:
        await postgres.drop_database(name)
