"""The DateTime scalar: every time the API answers is in UTC (``+00:00``), whatever zone it was
given in. A row just written still holds the caller's value (e.g. a pilot created with ``+07:00``
times) until it is read back, so answers were UTC or not depending on the path; serializing here
makes them one format in one place."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from strawberry.schema.types.base_scalars import DateTimeDefinition


def serialize_utc(value: datetime) -> str:
    # Naive values come from SQLite columns outside UTCDateTime: stored as UTC by the platform.
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


UTCDateTime = dataclasses.replace(DateTimeDefinition, serialize=serialize_utc,
                                  description="Date with time (ISO 8601), always answered in UTC (+00:00).")
SCALAR_OVERRIDES = {datetime: UTCDateTime}
