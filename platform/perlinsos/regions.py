"""Kemendagri region codes (kode wilayah) of all Indonesia, and population per province and regency.

Codes are dotted: ``35`` province, ``35.10`` regency/city, ``35.10.15`` district (kecamatan),
``35.10.15.2004`` village: the fourth part starts with 2 for a desa, 1 for a kelurahan, 3 for a desa
adat (a few in Papua; ``kind`` is ``None`` for them, their name already says "Desa Adat"). These are
Kemendagri codes, not BPS codes.

**Data.** ``perlinsos/data/regions_indonesia.csv`` (columns ``code,name``: 38 provinces, 514
regencies/cities, 7,285 districts, 83,762 villages) and ``population_indonesia.csv`` (``code,name,
male,female,total`` per province and regency/city), both from the MIT-licensed dataset cahyadsn/wilayah
(Kepmendagri 300.2.2-2138/2025; licence in ``LICENSE.wilayah`` beside them), copied byte for byte so
a checksum compares them with upstream. Nothing is fetched at run time.

The list ships as plain CSV, not gzip: wheels (zip) and git objects (zlib) are compressed anyway,
so gzip would save little where it matters, while a new Kemendagri list committed as plain text is a
reviewable diff that git stores as a small delta; a gzipped one is an opaque blob stored whole each
time. Reading the plain file is also faster than inflating it.

**Updating without a release.** ``PERLINSOS_REGIONS_FILE`` names a newer CSV of the same shape; it
replaces the shipped list (population figures stay the shipped ones). Whichever file is used goes
through :func:`check_file`'s rules at first use, so a bad file fails with a :class:`RegionFileError`
naming the file, the line and the problem. ``perlinsos regions check FILE`` runs the same check
beforehand. The variable is read here, at first use, not in ``perlinsos.settings``: this module sits
below the settings layer and is used where no ``Settings`` object is at hand.

**Cost.** Nothing is read at import. The first lookup reads and checks the file once per process
(about 92,000 rows, see ``docs/regions.md`` and ``bench/regions.py`` for figures). After that,
:func:`get` is a dict lookup and range queries (:func:`villages`, :func:`districts`,
:func:`children`, :func:`regencies`) bisect sorted per-level code lists: codes have fixed-width
parts, so string order is component order and a region's descendants are one contiguous run. Region
objects are made on first request and kept, so a process that only touches one regency never builds
the other 90,000.
"""

from __future__ import annotations

import csv
import os
import re
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from operator import itemgetter
from pathlib import Path
from typing import IO, Literal

__all__ = [
    "ENV_VAR",
    "Region",
    "RegionFileError",
    "all_regions",
    "check_file",
    "children",
    "data_file",
    "districts",
    "get",
    "is_within",
    "parent",
    "parent_code",
    "population",
    "regencies",
    "region_code_from_nik",
    "villages",
]

Level = Literal["province", "regency", "district", "village"]
Kind = Literal["desa", "kelurahan"]

ENV_VAR = "PERLINSOS_REGIONS_FILE"
_LEVELS: tuple[Level, ...] = ("province", "regency", "district", "village")
_CODE = re.compile(r"[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?")
# A well-formed code with every digit made a 9 is one of these shapes (checked in C over a whole file).
_SHAPES = frozenset({b"99", b"99.99", b"99.99.99", b"99.99.99.9999"})
_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_LENGTHS = (2, 5, 8, 13)  # code length per level: the parts are fixed width
_LEVEL_OF_LENGTH = dict(zip(_LENGTHS, range(4), strict=True))
_KINDS: dict[str, Kind] = {"2": "desa", "1": "kelurahan"}
_DATA_FILE = "regions_indonesia.csv"
_POPULATION_FILE = "population_indonesia.csv"
_MAX_PROBLEMS = 100  # a wrong file (say, another table) is reported, not listed in full
_EXAMPLE = "like 35, 35.10, 35.10.15 or 35.10.15.2004"
_File = Path | Traversable  # an operator's file, or the one shipped in the package


@dataclass(frozen=True, slots=True)  # slots: up to ~92,000 of them live in a process
class Region:
    code: str
    name: str
    level: Level
    kind: Kind | None = None  # villages only

    @property
    def parent_code(self) -> str | None:
        return parent_code(self.code)


class RegionFileError(ValueError):
    """A region (or population) file breaks a rule; the message names the file, the line and the problem.

    ``problems`` holds the first 100 ``(line, text)`` in file order (``count`` says how many were found);
    ``line`` is ``None`` for problems of the file as a whole (unreadable, empty).
    """

    def __init__(self, source: str, problems: list[tuple[int | None, str]], count: int | None = None):
        self.source = source
        ordered = sorted(problems, key=lambda p: p[0] or 0)
        self.count = count or len(ordered)
        self.problems = ordered[:_MAX_PROBLEMS]
        self.line, self.problem = self.problems[0]
        where = source if self.line is None else f"{source}, line {self.line}"
        more = self.count - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{where}: {self.problem}{suffix}")

    def again(self) -> RegionFileError:
        """A fresh copy to raise once more (raising a kept exception again piles up its traceback)."""
        return RegionFileError(self.source, self.problems, self.count)

    def __reduce__(self):  # pickles (e.g. across worker processes) despite the custom __init__
        return RegionFileError, (self.source, self.problems, self.count)


# --- reading and checking a file --------------------------------------------------------------


@dataclass
class _Table:
    """A checked region list: names by code, and each level's codes sorted for range queries."""

    source: str
    names: dict[str, str]
    levels: tuple[list[str], ...]
    made: dict[str, Region] = field(default_factory=dict)  # Region objects, made on first request
    whole: dict[int | None, tuple[Region, ...]] = field(default_factory=dict)  # a level, or None: all

    def every(self, level: int | None) -> tuple[Region, ...]:
        """Every region of a level (``None``: of all levels, parents first), made once and kept."""
        found = self.whole.get(level)
        if found is None:
            codes = sorted(self.names) if level is None else self.levels[level]
            found = self.whole[level] = tuple(map(self.region, codes))
        return found

    def region(self, code: str) -> Region | None:
        found = self.made.get(code)
        if found is None:
            name = self.names.get(code)
            if name is None:
                return None
            level = _LEVEL_OF_LENGTH[len(code)]
            kind = _KINDS.get(code[9]) if level == 3 else None
            # Two threads may both make it; they make equal objects and either one is kept.
            found = self.made[code] = Region(code, name, _LEVELS[level], kind)
        return found

    def within(self, level: int, scope: str) -> tuple[Region, ...]:
        """The regions of ``level`` inside ``scope`` (or ``scope`` itself): a run of the sorted codes.

        Every code starting with ``scope`` is ``scope`` or ``scope + "." + ...``, and "/" follows "."
        and precedes the digits, so the run ends before ``scope + "/"``.
        """
        codes = self.levels[level]
        start = bisect_left(codes, scope)
        end = bisect_left(codes, scope + "/", start)
        return tuple(map(self.region, codes[start:end]))


def _read(file: _File, source: str) -> _Table:
    """Check a region file and index it; raises :class:`RegionFileError` saying what is wrong where.

    This runs on ~92,000 rows at first use, so the loop only splits rows; the rules are then checked
    over the whole file at once, in C (code shapes, empty names, parents). Only a failing file is read
    a second time, to find the lines of its problems.
    """
    problems: list[tuple[int | None, str]] = []
    names: dict[str, str] = {}
    duplicates: list[tuple[int, str]] = []
    try:
        with _open(file) as stream:
            reader = csv.reader(stream)
            try:
                header = next(reader, None)
                if header is None:
                    raise RegionFileError(source, [(None, "the file is empty (expected the header code,name)")])
                if [h.strip() for h in header] != ["code", "name"]:
                    raise RegionFileError(source, [(1, f"expected the columns code,name, got {','.join(header)}")])
                for row in reader:
                    if len(row) == 2:
                        code = row[0].strip()
                        if code in names:
                            duplicates.append((reader.line_num, code))
                        else:
                            names[code] = row[1].strip()
                    elif row:  # a blank line is no row
                        problems.append((reader.line_num, f"expected 2 fields (code,name), got {len(row)}"))
            except UnicodeDecodeError as exc:
                # Text is decoded in blocks, ahead of the reader: find the line in the bytes.
                problems.append((_undecodable_line(file), f"not UTF-8 text ({exc.reason}): save the file as UTF-8"))
            except csv.Error as exc:
                problems.append((reader.line_num, f"unreadable: {exc}"))
    except OSError as exc:
        raise RegionFileError(source, [(None, f"cannot be read: {exc.strerror or exc}")]) from None
    if not names and not problems:
        problems.append((None, "no regions in the file"))

    malformed = _malformed(names)
    for code in malformed:
        del names[code]
    unnamed = [code for code, name in names.items() if not name] if "" in names.values() else []
    levels = _levels(names)
    orphans = _orphans(names, levels)
    if malformed or unnamed or orphans or duplicates:
        lines = _first_lines(file, {*malformed, *unnamed, *orphans, *(code for _, code in duplicates)})
        problems += [(lines.get(c), f"malformed code {c!r} (expected a code {_EXAMPLE})") for c in malformed]
        problems += [(lines.get(c), f"empty name for {c}") for c in unnamed]
        problems += [(lines.get(c), f"the parent {parent_code(c)} of {c} is not in the file") for c in orphans]
        problems += [(line, f"duplicate code {c} (first on line {lines.get(c)})") for line, c in duplicates]
    if problems:
        raise RegionFileError(source, problems)
    return _Table(source=source, names=names, levels=levels)


def _malformed(names: dict[str, str]) -> list[str]:
    """Codes that are not well formed, in file order."""
    # Fast: with every digit made a 9, all codes at once, a well-formed code is one of four shapes.
    shapes = "\n".join(names).encode("ascii", "replace").translate(_NINES).split(b"\n")
    if len(shapes) == len(names) and set(shapes) <= _SHAPES:
        return []
    return [code for code in names if not _CODE.fullmatch(code)]  # the rule itself, on a failing file


def _levels(names: dict[str, str]) -> tuple[list[str], ...]:
    """Each level's codes in code order (well-formed codes only)."""
    by_length = sorted(names, key=len)  # stable: each level keeps file order, usually code order
    per_length = Counter(map(len, by_length))
    levels, start = [], 0
    for length in _LENGTHS:
        level = by_length[start:start + per_length[length]]
        level.sort()  # string order is component order (fixed-width parts); quick on sorted input
        levels.append(level)
        start += per_length[length]
    return tuple(levels)


def _orphans(names: dict[str, str], levels: tuple[list[str], ...]) -> list[str]:
    """Codes whose parent is not in ``names``, in code order."""
    orphans: list[str] = []
    for level in (1, 2, 3):
        parent_of = itemgetter(slice(0, _LENGTHS[level - 1]))
        if not names.keys() >= set(map(parent_of, levels[level])):  # in C; the loop below is the rare path
            orphans += [c for c in levels[level] if parent_of(c) not in names]
    return orphans


def _first_lines(file: _File, codes: set[str]) -> dict[str, int]:
    """The line each code first appears on (read again only for a failing file)."""
    found: dict[str, int] = {}
    with _open(file) as stream:
        reader = csv.reader(stream)
        try:
            for row in reader:
                code = row[0].strip() if row else ""
                if code in codes and code not in found:
                    found[code] = reader.line_num
        except (csv.Error, UnicodeDecodeError):
            pass  # already reported; the lines found so far are what can be told
    return found


def _open(file: _File) -> IO[str]:
    # utf-8-sig: a list saved by a spreadsheet starts with a byte-order mark; newline="" as csv wants.
    return file.open("r", encoding="utf-8-sig", newline="")


def _undecodable_line(file: _File) -> int | None:
    data = file.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return None


def check_file(path: str | os.PathLike[str]) -> dict[Level, int]:
    """Check a region file as the platform would load it; return how many regions it holds per level.

    Rules: a header ``code,name``; two fields per row; every code well formed (``35``, ``35.10``,
    ``35.10.15`` or ``35.10.15.2004``); no code twice; every code's parent in the file; no empty name.
    Blank lines and spaces around fields are ignored. Raises :class:`RegionFileError` otherwise.
    """
    table = _read(Path(path), os.fspath(path))
    return {level: len(codes) for level, codes in zip(_LEVELS, table.levels, strict=True)}


# --- the list in use ----------------------------------------------------------------------------

_lock = threading.Lock()
_table_or_error: _Table | RegionFileError | None = None
_population_or_error: dict[str, int] | RegionFileError | None = None


def data_file() -> str:
    """The region file in use: ``PERLINSOS_REGIONS_FILE`` when set, else the shipped list."""
    return os.environ.get(ENV_VAR, "").strip() or str(files("perlinsos") / "data" / _DATA_FILE)


def _table() -> _Table:
    global _table_or_error
    loaded = _table_or_error
    if loaded is None:
        with _lock:  # one reader per process, even when the first lookups arrive together
            loaded = _table_or_error
            if loaded is None:
                configured = os.environ.get(ENV_VAR, "").strip()
                try:
                    if configured:
                        loaded = _read(Path(configured), f"{configured} ({ENV_VAR})")
                    else:
                        loaded = _read(files("perlinsos") / "data" / _DATA_FILE, f"perlinsos/data/{_DATA_FILE}")
                except RegionFileError as exc:
                    loaded = exc  # kept: every later lookup fails the same way, without re-reading
                _table_or_error = loaded
    if isinstance(loaded, RegionFileError):
        raise loaded.again()
    return loaded


def _reset() -> None:
    """Forget what was read (tests switch ``PERLINSOS_REGIONS_FILE``)."""
    global _table_or_error, _population_or_error
    with _lock:
        _table_or_error = _population_or_error = None


# --- lookups ------------------------------------------------------------------------------------


def get(code: str) -> Region | None:
    """The region with this exact code, or ``None`` when unknown or malformed."""
    if not isinstance(code, str):
        return None
    return _table().region(code.strip())


def all_regions() -> tuple[Region, ...]:
    """All regions, parents before their children (about 92,000: prefer the narrower queries)."""
    return _table().every(None)


def is_within(code: str, scope_code: str) -> bool:
    """Whether ``code`` lies in ``scope_code`` (a region is within itself).

    Compared by dot-separated components, so ``35.10.15`` is within ``35.10`` but ``35.10`` is not within
    ``35.1``. Malformed codes are within nothing, and contain nothing. Needs no data: codes outside the
    list compare by their shape.
    """
    if not (_is_code(code) and _is_code(scope_code)):
        return False
    # Both are well formed, so a component prefix is a string prefix followed by a dot.
    return code == scope_code or code.startswith(scope_code + ".")


def villages(prefix: str | None = None) -> tuple[Region, ...]:
    """All villages, or those within the region ``prefix`` (e.g. ``"35.10.15"``)."""
    if prefix is None:
        return _table().every(3)
    return _table().within(3, prefix) if _is_code(prefix) else ()


def districts(regency_code: str) -> tuple[Region, ...]:
    """The kecamatan of a regency/city (e.g. ``"35.10"``), or of any region containing them."""
    return _table().within(2, regency_code) if _is_code(regency_code) else ()


def regencies(province_code: str | None = None) -> tuple[Region, ...]:
    """All regencies and cities, or those of a province (e.g. ``"35"``)."""
    if province_code is None:
        return _table().every(1)
    return _table().within(1, province_code) if _is_code(province_code) else ()


def children(code: str) -> tuple[Region, ...]:
    """The regions one level below ``code``: a province's regencies, a regency's districts, a district's
    villages; ``()`` for a village, an unknown or a malformed code."""
    if not _is_code(code) or len(code) == _LENGTHS[-1]:
        return ()
    return _table().within(_LEVEL_OF_LENGTH[len(code)] + 1, code)


def parent_code(code: str) -> str | None:
    """The code one level up (``"35.10.15.2004"`` -> ``"35.10.15"``); ``None`` for a province or bad code."""
    if not _is_code(code) or "." not in code:
        return None
    return code.rsplit(".", 1)[0]


def parent(code: str) -> Region | None:
    """The region one level up, if it is in the data."""
    up = parent_code(code)
    return get(up) if up else None


def population(code: str) -> int | None:
    """The population of a province or regency/city (``"35.10"`` -> 1791789); ``None`` for other codes.

    From the shipped ``population_indonesia.csv``, whichever region list is in use.
    """
    if not isinstance(code, str):
        return None
    return _population().get(code.strip())


def _population() -> dict[str, int]:
    global _population_or_error
    loaded = _population_or_error
    if loaded is None:
        resource = files("perlinsos") / "data" / _POPULATION_FILE
        try:
            with resource.open("r", encoding="utf-8-sig", newline="") as stream:
                loaded = _read_population(stream, f"perlinsos/data/{_POPULATION_FILE}")
        except RegionFileError as exc:
            loaded = exc
        _population_or_error = loaded  # 552 rows: no lock needed, a second reader would read the same
    if isinstance(loaded, RegionFileError):
        raise loaded.again()
    return loaded


def _read_population(rows: Iterable[str], source: str) -> dict[str, int]:
    """Totals by code; shipped, not replaceable, so only its shape is checked (a clear error, not a crash)."""
    reader = csv.reader(rows)
    header = [h.strip() for h in next(reader, [])]
    if header != ["code", "name", "male", "female", "total"]:
        got = ",".join(header)
        raise RegionFileError(source, [(1, f"expected the columns code,name,male,female,total, got {got}")])
    totals: dict[str, int] = {}
    for row in reader:
        if not row:
            continue
        code = row[0].strip()
        if len(row) != 5 or not _is_code(code) or not row[4].strip().isdigit():
            raise RegionFileError(source, [(reader.line_num, "expected a region code and a whole total")])
        totals[code] = int(row[4])
    return totals


# --- codes --------------------------------------------------------------------------------------


def _is_code(code: object) -> bool:
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


def region_code_from_nik(nik_value: str) -> str:
    """The district code of first registration in a NIK (or the region of issue of a KK number).

    ``"3510151203800001"`` -> ``"35.10.15"``. Only the shape is checked (16 digits, spaces ignored);
    use ``perlinsos.idnumbers.parse_nik`` to validate.
    """
    digits = re.sub(r"\s+", "", nik_value) if isinstance(nik_value, str) else ""
    if not re.fullmatch(r"[0-9]{16}", digits):
        raise ValueError("a NIK must be 16 digits")  # no echo of the value: it is personal data
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}"
