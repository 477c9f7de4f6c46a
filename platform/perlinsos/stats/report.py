"""``perlinsos stats`` output: the figures as text tables, or as JSON shaped like the GraphQL answer."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from perlinsos.stats.figures import Cell, Group, PilotStats, RegionStats

HIDDEN = "s"  # how a suppressed cell is printed (the legend says so)


def as_json(value: Any) -> Any:
    """camelCase keys, as the ``pilotStats`` query answers (tests compare the two)."""
    if dataclasses.is_dataclass(value):
        return {_camel(f.name): as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _n(cell: Cell) -> str:
    return HIDDEN if cell.suppressed else f"{cell.count:,}"


def _label(r: RegionStats) -> str:
    code = r.region_code or "(semua)"
    return f"{code} {r.name or ''}".strip()[:38]


def _table(title: str, rows: list[RegionStats], columns: list[str], cells) -> list[str]:
    """One line per region; ``cells(region)`` gives the row's cells in ``columns`` order."""
    width = max([len(c) for c in columns] + [7])
    lines = ["", title, f"  {'wilayah / region':<38} " + " ".join(f"{c:>{width}}" for c in columns)]
    for r in rows:
        lines.append(f"  {_label(r):<38} " + " ".join(f"{_n(c):>{width}}" for c in cells(r)))
    return lines


def _group_table(title: str, rows: list[RegionStats], attr: str) -> list[str]:
    first: Group = getattr(rows[0], attr)
    columns = [c.key for c in first.cells] + ["TOTAL"]
    return _table(title, rows, columns, lambda r: [*getattr(r, attr).cells, getattr(r, attr).total])


def tables(stats: PilotStats) -> str:
    rows = [stats.overall, *stats.districts, *stats.villages]
    scope = stats.region_code or "seluruh uji coba / whole pilot"
    lines = [f"statistik {stats.pilot} — {scope}",
             f"  dibuat / generated {stats.generated_at:%Y-%m-%d %H:%M} UTC; "
             f"'{HIDDEN}' = disembunyikan / suppressed (< {stats.min_cell} or recoverable from the others)"]
    lines += _group_table("pendaftaran per kanal / registrations by channel", rows, "registrations")
    lines += _group_table("keputusan / decisions (current version) by outcome", rows, "decisions")
    codes = [c.key for c in stats.overall.rejection_reasons]
    if codes:
        lines += _table("alasan tidak layak / rejection reasons", rows, codes, lambda r: list(r.rejection_reasons))
    lines += _group_table("sanggah per status / appeals by status", rows, "appeals_by_status")
    lines += _group_table("sanggah selesai per hasil / resolved appeals by outcome", rows, "appeals_by_outcome")
    lines += _table("sanggah lewat tenggat / overdue appeals", rows, ["OVERDUE"], lambda r: [r.overdue_appeals])
    for i, channel in enumerate(stats.overall.notifications):
        per_region = [(r, next((c for c in r.notifications if c.channel == channel.channel), None)) for r in rows]
        shown = [r for r, c in per_region if c is not None]
        of = {id(r): c for r, c in per_region}
        columns = [c.key for c in channel.statuses] + ["TOTAL"]
        lines += _table(f"notifikasi / notifications: {channel.channel}", shown, columns,
                        lambda r: [*of[id(r)].statuses, of[id(r)].total])
        rates = [f"{x.key} {'s' if x.suppressed else ('-' if x.rate is None else f'{x.rate:.1%}')}"
                 for x in channel.rates]
        lines.append(f"  rates (overall): {', '.join(rates)}")
    return "\n".join(lines)
