"""The land-registry extract: ``no_kk,luas_m2,jenis,per_tanggal``, one row per plot (agricultural
or building), summed per KK (family card). A KK absent from the extract owns no registered land
as of the extract's date (its latest ``per_tanggal``)."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

from perlinsos.contract import Fact

log = logging.getLogger(__name__)
SOURCE = "ATR/BPN Kab. Banyuwangi"
FACT = "land_area_m2"
SCOPE = "facts:welfare"  # assets are read under the welfare-data consent
COLUMNS = ("no_kk", "luas_m2", "jenis", "per_tanggal")


class ExtractError(Exception):
    """The extract cannot be read or is malformed."""


@dataclass(frozen=True)
class Extract:
    by_kk: dict[str, tuple[int, date]]  # KK number → (total m², as of)
    as_of: date


def read_extract(path: str | None = None) -> Extract:
    """Parse the extract at ``path``, or the one bundled with the package."""
    try:
        if path is None:
            text = (resources.files(__package__) / "data" / "ekstrak_lahan.csv").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExtractError(f"cannot read {path or 'bundled extract'}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ExtractError(f"expected columns {','.join(COLUMNS)}, found {reader.fieldnames}")
    by_kk: dict[str, tuple[int, date]] = {}
    for line, row in enumerate(reader, start=2):
        try:
            area, as_of = int(row["luas_m2"]), date.fromisoformat(row["per_tanggal"])
        except (TypeError, ValueError) as exc:
            raise ExtractError(f"line {line}: {exc}") from None
        if area < 0:
            raise ExtractError(f"line {line}: negative area")
        total, seen = by_kk.get(row["no_kk"], (0, as_of))
        by_kk[row["no_kk"]] = (total + area, max(seen, as_of))
    if not by_kk:
        raise ExtractError("the extract has no rows")
    return Extract(by_kk, max(d for _, d in by_kk.values()))


def land_facts(registrants, path: str | None = None) -> list[Fact]:
    """One ``land_area_m2`` fact per registrant; error facts (never a rejection) when unreadable."""
    try:
        extract = read_extract(path)
    except ExtractError as exc:
        log.warning("land extract unavailable: %s", exc)
        extract = None
    facts = []
    for r in registrants:
        if r.consent is None or not r.consent.allows(SCOPE):
            facts.append(Fact(r.registration_id, FACT, None, SOURCE, error="NO_CONSENT"))
        elif extract is None:
            facts.append(Fact(r.registration_id, FACT, None, SOURCE, error="EXTRACT_UNAVAILABLE"))
        else:
            area, as_of = extract.by_kk.get(r.kk_number, (0, extract.as_of))
            facts.append(Fact(r.registration_id, FACT, area, SOURCE, as_of))
    return facts
