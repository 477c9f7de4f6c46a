"""The database's clock, for leases shared by several machines.

A lease written by one worker and judged by another must be measured on one clock: each
machine's own clock may be minutes off (a worker 5 minutes ahead would see every healthy
worker's lease as run out). The database server's clock is the one they all share.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

# SQLite's clock to the millisecond, in the text form SQLAlchemy stores datetimes in on SQLite
# (six fractional digits), so it compares and parses like the stored values.
_SQLITE_NOW = text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'")


async def db_now(conn: AsyncConnection) -> datetime:
    """The database server's current time (aware, UTC). On PostgreSQL ``clock_timestamp()`` (the
    time of the call, not of the transaction's start); on SQLite the clock of the machine holding
    the file, which is the one every process writing to it shares."""
    if conn.dialect.name == "sqlite":
        value = (await conn.execute(_SQLITE_NOW)).scalar_one()
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    value = (await conn.execute(select(func.clock_timestamp()))).scalar_one()
    return value.astimezone(UTC)
