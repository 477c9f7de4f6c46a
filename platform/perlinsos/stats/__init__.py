"""Transparency figures of a pilot (issue 7): registrations by channel, decisions by outcome,
rejection reasons, appeals and notification delivery — for the pilot, each kecamatan and each
village, computed by aggregate SQL, with small cells suppressed so no household can be singled out.

Free of GraphQL: ``perlinsos stats`` and the ``pilotStats`` query both call :func:`pilot_stats`.
"""

from __future__ import annotations

from datetime import datetime

from perlinsos import policy, regions
from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.db.types import utcnow
from perlinsos.pilots import store
from perlinsos.problems import problem
from perlinsos.stats.figures import Cell, ChannelDelivery, Group, PilotStats, Rate, RegionStats, build
from perlinsos.stats.queries import count_all
from perlinsos.stats.suppression import DEFAULT_MIN_CELL

__all__ = ["DEFAULT_MIN_CELL", "Cell", "ChannelDelivery", "Group", "PilotStats", "Rate", "RegionStats",
           "pilot_stats", "scope_for"]


def scope_for(principal: Principal | None, pilot_code: str, region_code: str | None) -> str | None:
    """The region ``principal`` asks the figures of (``None``: the whole pilot), or a Problem:
    who may ask where is :func:`perlinsos.policy.stats_regions`; a reviewer with one region gets
    it by default."""
    if principal is None:
        raise problem("UNAUTHENTICATED")
    allowed = policy.stats_regions(principal, pilot_code)
    if allowed == []:
        raise problem("FORBIDDEN")
    if region_code is None and allowed is not None:
        if len(set(allowed)) != 1:
            raise problem("INPUT_INVALID", field="regionCode")  # several regions: say which
        region_code = allowed[0]
    if region_code is not None and regions.get(region_code) is None:
        raise problem("REGION_UNKNOWN", field="regionCode")
    if allowed is not None and not any(regions.is_within(region_code, r) for r in allowed):
        raise problem("FORBIDDEN")
    return region_code


async def pilot_stats(db: Database, pilot_code: str, region_code: str | None = None,
                      min_cell: int = DEFAULT_MIN_CELL, now: datetime | None = None) -> PilotStats:
    """The figures of ``pilot_code`` (within ``region_code`` when given); raises a Problem for an
    unknown pilot or region. Who may ask is the caller's business (:func:`perlinsos.policy.can_view_stats`)."""
    if min_cell < 1:
        raise problem("INPUT_INVALID", field="minCell")
    if region_code is not None and regions.get(region_code) is None:
        raise problem("REGION_UNKNOWN", field="regionCode")
    now = now or utcnow()
    async with db.read() as session:
        pilot = await store.get_pilot(session, pilot_code)
        if pilot is None:
            raise problem("PILOT_UNKNOWN", field="pilot")
        if pilot.training:  # a class's practice is no transparency figure (perlinsos.pilots.training)
            raise problem("TRAINING_PILOT_NO_STATS", field="pilot")
        raw = await count_all(session, pilot.id, now)
    return build(raw, pilot=pilot.code, pilot_name=pilot.name, region_code=region_code, min_cell=min_cell, now=now)
