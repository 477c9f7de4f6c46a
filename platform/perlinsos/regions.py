"""Kemendagri region codes (kode wilayah) shipped with the platform.

The data (``perlinsos/data/regions_banyuwangi.csv``, MIT-licensed, see ``LICENSE.wilayah`` beside it) holds
Jawa Timur, Kabupaten Banyuwangi, its kecamatan and villages. It is read once, on first use.

Codes are dotted: ``35`` province, ``35.10`` regency/city, ``35.10.15`` district (kecamatan),
``35.10.15.2004`` village (NNNN starting with 2 = desa, 1 = kelurahan). These are Kemendagri codes, not BPS.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Literal

__all__ = [
    "Region",
    "all_regions",
    "districts",
    "get",
    "is_within",
    "parent",
    "parent_code",
    "region_code_from_nik",
    "villages",
]

Level = Literal["province", "regency", "district", "village"]
Kind = Literal["desa", "kelurahan"]

_LEVELS: tuple[Level, ...] = ("province", "regency", "district", "village")
_CODE = re.compile(r"[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?")
_DATA_FILE = "regions_banyuwangi.csv"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: Level
    kind: Kind | None = None  # villages only

    @property
    def parent_code(self) -> str | None:
        return parent_code(self.code)


def _is_code(code: object) -> bool:
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


def _make_region(code: str, name: str) -> Region:
    if not _is_code(code):
        raise ValueError(f"malformed region code {code!r} in {_DATA_FILE}")
    parts = code.split(".")
    kind: Kind | None = None
    if len(parts) == 4:
        kind = {"2": "desa", "1": "kelurahan"}.get(parts[3][0])
    return Region(code=code, name=name.strip(), level=_LEVELS[len(parts) - 1], kind=kind)


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[Region, ...], dict[str, Region]]:
    text = (files("perlinsos") / "data" / _DATA_FILE).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != ["code", "name"]:
        raise ValueError(f"{_DATA_FILE}: expected columns code,name, got {reader.fieldnames}")
    regions = [_make_region(row["code"].strip(), row["name"]) for row in reader if row["code"]]
    # Sort by components so "35.10.02" precedes "35.10.10" whatever the file order.
    regions.sort(key=lambda r: r.code.split("."))
    by_code = {r.code: r for r in regions}
    if len(by_code) != len(regions):
        raise ValueError(f"{_DATA_FILE}: duplicate region codes")
    return tuple(regions), by_code


def get(code: str) -> Region | None:
    """The region with this exact code, or ``None`` when unknown or malformed."""
    if not isinstance(code, str):
        return None
    return _load()[1].get(code.strip())


def all_regions() -> tuple[Region, ...]:
    """All regions, parents before their children."""
    return _load()[0]


def is_within(code: str, scope_code: str) -> bool:
    """Whether ``code`` lies in ``scope_code`` (a region is within itself).

    Compared by dot-separated components, so ``35.10.15`` is within ``35.10`` but ``35.10`` is not within
    ``35.1``. Malformed codes are within nothing, and contain nothing.
    """
    if not (_is_code(code) and _is_code(scope_code)):
        return False
    parts, scope = code.split("."), scope_code.split(".")
    return parts[: len(scope)] == scope


def villages(prefix: str | None = None) -> tuple[Region, ...]:
    """All villages, or those within the region ``prefix`` (e.g. ``"35.10.15"``)."""
    return tuple(
        r for r in all_regions() if r.level == "village" and (prefix is None or is_within(r.code, prefix))
    )


def districts(regency_code: str) -> tuple[Region, ...]:
    """The kecamatan of a regency/city (e.g. ``"35.10"``)."""
    return tuple(r for r in all_regions() if r.level == "district" and is_within(r.code, regency_code))


def parent_code(code: str) -> str | None:
    """The code one level up (``"35.10.15.2004"`` -> ``"35.10.15"``); ``None`` for a province or bad code."""
    if not _is_code(code) or "." not in code:
        return None
    return code.rsplit(".", 1)[0]


def parent(code: str) -> Region | None:
    """The region one level up, if it is in the data."""
    up = parent_code(code)
    return get(up) if up else None


def region_code_from_nik(nik_value: str) -> str:
    """The district code of first registration in a NIK (or the region of issue of a KK number).

    ``"3510151203800001"`` -> ``"35.10.15"``. Only the shape is checked (16 digits, spaces ignored);
    use ``perlinsos.idnumbers.parse_nik`` to validate.
    """
    digits = re.sub(r"\s+", "", nik_value) if isinstance(nik_value, str) else ""
    if not re.fullmatch(r"[0-9]{16}", digits):
        raise ValueError("a NIK must be 16 digits")  # no echo of the value: it is personal data
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}"
