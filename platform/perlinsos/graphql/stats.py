"""GraphQL for a pilot's transparency figures (``perlinsos.stats``): a thin resolver.

The types mirror the domain dataclasses field for field, so the resolver returns those objects as
they are. Who may ask where: :func:`perlinsos.stats.scope_for`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import get_args

import strawberry
from strawberry.types import Info

from perlinsos import regions, stats
from perlinsos.errors import Problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.payloads import UserError

# The whole pilot, or a region level (the domain answers these as strings; a str enum matches them).
StatsLevel = strawberry.enum(enum.Enum("StatsLevel", {v: v for v in ("pilot", *get_args(regions.Level))}, type=str),
                             name="StatsLevel", description="pilot for the whole scope, or the region's level.")


@strawberry.type(name="StatsCell", description="A count; `null` with `suppressed` when it is too small to publish "
                                               "(or would give a small one away by subtraction).")
class Cell:
    key: str
    count: int | None
    suppressed: bool


@strawberry.type(name="StatsRate", description="A share of a channel's notifications; hidden with its counts.")
class Rate:
    key: str
    rate: float | None
    suppressed: bool


@strawberry.type(name="StatsGroup", description="Counts by category and their total.")
class Group:
    total: Cell
    cells: list[Cell]


@strawberry.type(description="Notifications of one channel by delivery status, and the shares of each.")
class ChannelDelivery:
    channel: str
    total: Cell
    statuses: list[Cell]
    rates: list[Rate]


@strawberry.type(description="The figures of one region (or of the whole scope asked for).")
class RegionStats:
    region_code: str | None
    name: str | None
    level: StatsLevel
    registrations: Group = strawberry.field(description="By channel: SELF or ASSISTED (by a facilitator).")
    decisions: Group = strawberry.field(description="By the outcome of each registration's current decision.")
    rejection_reasons: list[Cell] = strawberry.field(
        description="Criteria failed by NOT_ELIGIBLE decisions (a decision may fail several).")
    appeals_by_status: Group
    appeals_by_outcome: Group = strawberry.field(
        description="Resolved appeals, by the outcome of the decision each ended with.")
    overdue_appeals: Cell = strawberry.field(description="Open appeals past their review deadline.")
    notifications: list[ChannelDelivery]


@strawberry.type(description="A pilot's transparency figures: overall, per kecamatan and per village.")
class PilotStats:
    pilot: str
    region_code: str | None
    min_cell: int = strawberry.field(description="Counts from 1 to minCell - 1 are suppressed.")
    generated_at: datetime
    overall: RegionStats
    districts: list[RegionStats]
    villages: list[RegionStats]


@strawberry.type
class PilotStatsPayload:
    stats: PilotStats | None
    errors: list[UserError]


@strawberry.type
class StatsQueries:
    # No threshold argument: figures asked with two thresholds could hide different complements,
    # and one answer would then give away what the other hid.
    @strawberry.field(description="Transparency figures of a pilot, small cells suppressed (the national office; "
                                  "a reviewer for their region, by default).")
    async def pilot_stats(self, info: Info, pilot: str, region_code: str | None = None) -> PilotStatsPayload:
        c = ctx(info)
        try:
            scope = stats.scope_for(c.principal, pilot, region_code)
            result = await stats.pilot_stats(c.db, pilot, scope, stats.DEFAULT_MIN_CELL)
        except Problem as p:
            return PilotStatsPayload(stats=None, errors=[UserError.of(p, c.language)])
        return PilotStatsPayload(stats=result, errors=[])


__all__ = ["StatsQueries"]
