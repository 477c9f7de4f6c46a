"""Transparency figures of a pilot: the published shape, rolled up and suppressed.

The aggregates per village (:mod:`.queries`) are summed into kecamatan and the whole scope, every
equation a reader could use is written down, and :func:`.suppression.suppress` decides which cells
are hidden. A hidden count is ``None`` with ``suppressed=True``; a rate computed from a hidden
count is hidden too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from perlinsos import regions
from perlinsos.db.models import AppealStatus, Channel, NotificationStatus, Outcome
from perlinsos.stats.queries import RESOLVED_APPEALS, RawCounts
from perlinsos.stats.suppression import Equation, suppress

TOTAL = "*"  # the category of a row total
OVERALL = "*"  # the region key of the whole scope
OUTCOMES = tuple(o.value for o in Outcome)
DELIVERY = tuple(s.value for s in NotificationStatus)
#: the shares reported per channel
RATES = ("SENT", "DELIVERED", "FAILED", "DEAD", "UNDELIVERABLE")


@dataclass(frozen=True)
class Cell:
    key: str
    count: int | None
    suppressed: bool


@dataclass(frozen=True)
class Rate:
    key: str
    rate: float | None
    suppressed: bool


@dataclass(frozen=True)
class Group:
    total: Cell
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class ChannelDelivery:
    channel: str
    total: Cell
    statuses: tuple[Cell, ...]
    rates: tuple[Rate, ...]


@dataclass(frozen=True)
class RegionStats:
    region_code: str | None
    name: str | None
    level: str  # pilot | province | regency | district | village
    registrations: Group  # by channel
    decisions: Group  # by outcome of the current decision
    rejection_reasons: tuple[Cell, ...]  # criteria failed by NOT_ELIGIBLE decisions (one may fail several)
    appeals_by_status: Group
    appeals_by_outcome: Group  # resolved appeals, by the outcome of the decision they ended with
    overdue_appeals: Cell  # open past their review deadline
    notifications: tuple[ChannelDelivery, ...]


@dataclass(frozen=True)
class PilotStats:
    pilot: str
    region_code: str | None
    min_cell: int
    generated_at: datetime
    overall: RegionStats
    districts: tuple[RegionStats, ...]
    villages: tuple[RegionStats, ...]


def _ancestors(village: str) -> list[str]:
    """Province, regency and kecamatan of a village code, top first."""
    parts = village.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _by_code(codes) -> list[str]:
    return sorted(codes, key=lambda c: c.split("."))


def build(raw: RawCounts, *, pilot: str, pilot_name: str, region_code: str | None, min_cell: int,
          now: datetime) -> PilotStats:
    """The figures of the whole pilot, suppressed as one table, then cut to ``region_code``.

    Suppression is always decided on the whole pilot, so a cell is shown or hidden the same whatever
    region is asked for: otherwise a village's figures asked alone, subtracted from its kecamatan's
    asked with the pilot, would give back a neighbour hidden there."""
    by_metric = {"registrations": raw.registrations, "decisions": raw.decisions, "reasons": raw.reasons,
                 "appeal_status": raw.appeal_status, "appeal_outcome": raw.appeal_outcome, "overdue": raw.overdue}
    channels = sorted({cat.split("|")[0] for _, cat in raw.notifications})
    for ch in channels:
        by_metric[f"notify|{ch}"] = {(v, cat.split("|")[1]): n for (v, cat), n in raw.notifications.items()
                                     if cat.split("|")[0] == ch}
    categories: dict[str, tuple[str, ...]] = {
        "registrations": tuple(c.value for c in Channel), "decisions": OUTCOMES,
        "reasons": tuple(sorted({c for _, c in raw.reasons})),
        "appeal_status": tuple(s.value for s in AppealStatus), "appeal_outcome": OUTCOMES, "overdue": ("OVERDUE",),
        **{f"notify|{ch}": DELIVERY for ch in channels},
    }
    with_total = {m for m in categories if m not in ("reasons", "overdue")}

    # the hierarchy: pilot > province > regency > kecamatan > village
    village_set = {v for counts in by_metric.values() for v, _ in counts}
    villages = _by_code(village_set)
    children: dict[str, list[str]] = defaultdict(list)
    for v in villages:
        chain = [OVERALL, *_ancestors(v), v]
        for parent, child in zip(chain, chain[1:], strict=False):
            if child not in children[parent]:
                children[parent].append(child)
    levels = [[OVERALL]]
    while any(children.get(r) for r in levels[-1]):
        levels.append(_by_code({c for r in levels[-1] for c in children.get(r, ())}))
    parents = [r for level in levels for r in level if children.get(r)]

    # every cell: (metric, region, category); rolled up from the village aggregates
    values: dict[Hashable, int] = {}
    for m, cats in categories.items():
        cols = (*cats, TOTAL) if m in with_total else cats
        for v in villages:
            for c in cats:
                values[(m, v, c)] = by_metric[m].get((v, c), 0)
            if m in with_total:
                values[(m, v, TOTAL)] = sum(values[(m, v, c)] for c in cats)
        for level in reversed(levels[:-1]):
            for r in level:
                for c in cols:
                    values[(m, r, c)] = sum(values[(m, k, c)] for k in children[r])

    equations: list[Equation] = []
    hide_with: dict[Hashable, list[Hashable]] = defaultdict(list)
    all_regions = [r for level in levels for r in level]
    for m, cats in categories.items():
        cols = (*cats, TOTAL) if m in with_total else cats
        for c in cols:
            equations += [Equation((m, r, c), tuple((m, k, c) for k in children[r])) for r in parents]
        if m in with_total:
            for r in all_regions:
                equations.append(Equation((m, r, TOTAL), tuple((m, r, c) for c in cats)))
                # a hidden total hides its row, zeros too: "all 3 registrants here were assisted" is a disclosure
                hide_with[(m, r, TOTAL)] += [(m, r, c) for c in cats]
    for r in all_regions:
        # resolved appeals are counted twice: by status and by final outcome
        equations.append(Equation(("appeal_outcome", r, TOTAL), tuple(("appeal_status", r, s) for s in RESOLVED_APPEALS)))
        hide_with[("decisions", r, Outcome.NOT_ELIGIBLE.value)] += [("reasons", r, c) for c in categories["reasons"]]
        hide_with[("appeal_status", r, TOTAL)] += [("overdue", r, "OVERDUE"), ("appeal_outcome", r, TOTAL)]
    hidden = suppress(values, equations, min_cell, hide_with)

    def cell(m: str, r: str, c: str) -> Cell:
        key = (m, r, c)
        return Cell(key=c, count=None, suppressed=True) if key in hidden else Cell(key=c, count=values[key],
                                                                                   suppressed=False)

    def group(m: str, r: str) -> Group:
        return Group(total=cell(m, r, TOTAL), cells=tuple(cell(m, r, c) for c in categories[m]))

    def delivery(ch: str, r: str) -> ChannelDelivery:
        m = f"notify|{ch}"
        total = cell(m, r, TOTAL)
        statuses = tuple(cell(m, r, s) for s in DELIVERY)
        rates = []
        for s in RATES:
            part = next(x for x in statuses if x.key == s)
            if part.suppressed or total.suppressed:
                rates.append(Rate(key=s, rate=None, suppressed=True))
            else:
                rates.append(Rate(key=s, rate=round(part.count / total.count, 4) if total.count else None,
                                  suppressed=False))
        return ChannelDelivery(channel=ch, total=total, statuses=statuses, rates=tuple(rates))

    def region(r: str) -> RegionStats:
        known = regions.get(r) if r != OVERALL else None
        if r == OVERALL:
            code, name, level = None, pilot_name, "pilot"
        else:
            code, name = r, known.name if known else None
            level = known.level if known else ("province", "regency", "district", "village")[r.count(".")]
        if r not in children and r not in village_set:  # nothing registered there: all zeros
            values.update({k: 0 for k in _row_keys(categories, with_total, r)})
        return RegionStats(
            region_code=code, name=name, level=level, registrations=group("registrations", r),
            decisions=group("decisions", r), rejection_reasons=tuple(cell("reasons", r, c) for c in categories["reasons"]),
            appeals_by_status=group("appeal_status", r), appeals_by_outcome=group("appeal_outcome", r),
            overdue_appeals=cell("overdue", r, "OVERDUE"),
            notifications=tuple(delivery(ch, r) for ch in channels))

    scope = OVERALL if region_code is None else region_code
    inside = (lambda c: True) if region_code is None else (lambda c: regions.is_within(c, region_code))
    return PilotStats(pilot=pilot, region_code=region_code, min_cell=min_cell, generated_at=now,
                      overall=region(scope),
                      districts=tuple(region(d) for d in all_regions if d.count(".") == 2 and inside(d)),
                      villages=tuple(region(v) for v in villages if inside(v)))


def _row_keys(categories, with_total, r):
    for m, cats in categories.items():
        yield from ((m, r, c) for c in cats)
        if m in with_total:
            yield (m, r, TOTAL)
