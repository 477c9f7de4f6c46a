"""Alembic environment: runs migrations over the async engine on both SQLite and PostgreSQL."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from perlinsos.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )


def _run(connection) -> None:
    _configure(connection)
    # perlinsos.db.migrate's hooks: refuse a request that does not fit the database's revision
    # before anything runs; record the schema's compatibility in the same transaction.
    before, after = config.attributes.get("before_migrations"), config.attributes.get("after_migrations")
    if before is not None:
        before(connection)
        if connection.in_transaction():  # its read autobegan one: alembic must open its own
            connection.rollback()
    with context.begin_transaction():
        context.run_migrations()
        if after is not None:
            after(connection)
    if connection.in_transaction():  # SQLite: alembic runs DDL outside its own transaction
        connection.commit()


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
