"""Region codes of all Indonesia shipped in perlinsos/data (Kemendagri kode wilayah), population per
province and regency, the rules a region file must pass (the shipped one, or PERLINSOS_REGIONS_FILE),
and ``perlinsos regions``."""

import os
import pickle
import subprocess
import sys
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from perlinsos import regions
from perlinsos.cli import main
from perlinsos.regions import Region, RegionFileError

DATA = files("perlinsos") / "data"
SHIPPED = Path(str(DATA / "regions_indonesia.csv"))
COUNTS = {"province": 38, "regency": 514, "district": 7285, "village": 83762}


@pytest.fixture(autouse=True)
def shipped_list(monkeypatch):
    """These tests are about the shipped list, even where the environment names another."""
    named = regions.ENV_VAR in os.environ
    if named:
        monkeypatch.delenv(regions.ENV_VAR)
        regions._reset()
    yield
    if named:  # the environment's list again for the tests that follow
        monkeypatch.undo()
        regions._reset()


@pytest.fixture
def use_region_file(monkeypatch):
    """Point PERLINSOS_REGIONS_FILE at a file for one test; the shipped list is back afterwards."""

    def use(path: Path) -> None:
        monkeypatch.setenv(regions.ENV_VAR, str(path))
        regions._reset()

    yield use
    monkeypatch.delenv(regions.ENV_VAR, raising=False)
    regions._reset()


@pytest.fixture(scope="module")
def shipped_lines() -> list[str]:
    return SHIPPED.read_bytes().decode("utf-8").splitlines(keepends=True)  # CRLF kept


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8", newline="")
    return path


# --- the shipped data ---------------------------------------------------------------------------


def test_data_files_are_packaged():
    assert (DATA / "regions_indonesia.csv").is_file()
    assert (DATA / "population_indonesia.csv").is_file()
    licence = (DATA / "LICENSE.wilayah").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Cahya DSN" in licence
    assert not (DATA / "regions_banyuwangi.csv").is_file()  # the national list replaces it


def test_counts_per_level():
    assert regions.check_file(SHIPPED) == COUNTS
    everything = regions.all_regions()
    assert len(everything) == sum(COUNTS.values())
    assert sum(r.level == "province" for r in everything) == COUNTS["province"]
    assert len(regions.regencies()) == COUNTS["regency"]
    assert sum(len(regions.districts(p.code)) for p in everything if p.level == "province") == COUNTS["district"]
    assert len(regions.villages()) == COUNTS["village"]


@pytest.mark.parametrize(
    "code, name, level",
    [
        ("11", "Aceh", "province"),
        ("11.01", "Kabupaten Aceh Selatan", "regency"),
        ("11.01.01", "Bakongan", "district"),
        ("35.09", "Kabupaten Jember", "regency"),
        ("35.09.01.2001", "Padomasan", "village"),
        ("91.03", "Kabupaten Jayapura", "regency"),  # Papua
        ("94.01", "Kabupaten Nabire", "regency"),  # Papua Tengah
        ("96.71.10.1004", "Tanjung Kasuari", "village"),  # the last row of the file
        ("31.72", "Kota Administrasi Jakarta Utara", "regency"),  # trailing space in the file
        ("12.07.28.1007", "Lubuk Pakam I,II", "village"),  # a quoted comma
    ],
)
def test_names_across_the_country(code, name, level):
    found = regions.get(code)
    assert (found.code, found.name, found.level) == (code, name, level)


def test_province_and_regency():
    assert regions.get("35") == Region("35", "Jawa Timur", "province", None)
    assert regions.get("35.10") == Region("35.10", "Kabupaten Banyuwangi", "regency", None)


def test_banyuwangi_has_25_kecamatan():
    districts = regions.districts("35.10")
    assert len(districts) == 25
    assert all(d.level == "district" and d.kind is None for d in districts)
    assert [d.code for d in districts] == sorted(d.code for d in districts)
    assert districts[0].code == "35.10.01" and districts[-1].code == "35.10.25"
    assert {"Glagah", "Banyuwangi", "Kalipuro"} <= {d.name for d in districts}


def test_kemiren_is_a_desa_in_glagah():
    kemiren = regions.get("35.10.15.2004")
    assert kemiren == Region("35.10.15.2004", "Kemiren", "village", "desa")
    assert kemiren.parent_code == "35.10.15"
    assert regions.parent("35.10.15.2004") == Region("35.10.15", "Glagah", "district", None)
    assert regions.is_within(kemiren.code, "35.10.15")
    assert regions.is_within(kemiren.code, "35.10")
    assert regions.is_within(kemiren.code, "35")


def test_lateng_is_a_kelurahan():
    lateng = regions.get("35.10.16.1014")
    assert (lateng.name, lateng.level, lateng.kind) == ("Lateng", "village", "kelurahan")
    assert regions.parent(lateng.code).name == "Banyuwangi"


def test_every_village_is_desa_kelurahan_or_desa_adat():
    kinds = defaultdict(list)
    for v in regions.villages():
        kinds[v.kind].append(v)
    assert set(kinds) == {"desa", "kelurahan", None}
    assert all(v.code.split(".")[3][0] == "2" for v in kinds["desa"])
    assert all(v.code.split(".")[3][0] == "1" for v in kinds["kelurahan"])
    # 3xxx: desa adat in Kabupaten Jayapura; no kind, the name says it (texts would read "Desa Desa Adat")
    assert len(kinds[None]) == 14
    assert all(v.code.startswith("91.03.") and v.name.startswith("Desa Adat ") for v in kinds[None])


def test_all_regions_puts_parents_first_and_is_kept():
    everything = regions.all_regions()
    assert everything[0] == Region("11", "Aceh", "province", None)
    assert everything[1].code == "11.01"
    position = {r.code: i for i, r in enumerate(everything)}
    assert len(position) == len(everything)
    assert all(position[r.parent_code] < i for i, r in enumerate(everything) if r.parent_code)
    assert regions.all_regions() is everything  # made once
    assert regions.get("35.10") is regions.get("35.10")


# --- range queries ------------------------------------------------------------------------------


def test_range_queries_agree_with_a_linear_scan_everywhere():
    """villages/districts/children/regencies bisect sorted codes; a scan over every region must agree."""
    by_parent = defaultdict(list)
    for r in regions.all_regions():
        by_parent[r.parent_code].append(r)
    for scope in regions.all_regions():
        below = tuple(by_parent.get(scope.code, ()))
        assert regions.children(scope.code) == below, scope.code
        if scope.level == "district":
            assert regions.villages(scope.code) == below, scope.code
        elif scope.level == "regency":
            assert regions.districts(scope.code) == below, scope.code
            assert regions.villages(scope.code) == tuple(v for d in below for v in by_parent[d.code]), scope.code
        elif scope.level == "province":
            assert regions.regencies(scope.code) == below, scope.code
    assert regions.regencies() == tuple(r for p in by_parent[None] for r in by_parent[p.code])


def test_villages_by_prefix():
    glagah = regions.villages("35.10.15")
    assert "35.10.15.2004" in {v.code for v in glagah}
    assert all(regions.is_within(v.code, "35.10.15") for v in glagah)
    assert len(regions.villages("35.10")) == 217
    assert len(regions.villages("35")) > len(regions.villages("35.10"))
    assert regions.villages("35.10.15.2004") == (regions.get("35.10.15.2004"),)  # a region is within itself
    assert regions.villages("35.10.99") == ()
    assert regions.villages("35.1") == ()  # not a raw string prefix
    assert regions.villages(" 35.10") == ()  # nor a malformed code
    assert regions.villages(3510) == () and regions.districts(None) == ()  # type: ignore[arg-type]


def test_children():
    assert regions.children("35.10") == regions.districts("35.10")
    assert regions.children("35.10.15") == regions.villages("35.10.15")
    assert regions.children("35") == regions.regencies("35")
    assert regions.children("35.10.15.2004") == ()
    assert regions.children("35.99") == ()
    assert regions.children("3") == ()
    assert regions.children(None) == ()  # type: ignore[arg-type]


def test_regencies_of_a_province():
    east_java = regions.regencies("35")
    assert len(east_java) == 38  # 29 kabupaten, 9 kota
    assert {"Kabupaten Banyuwangi", "Kabupaten Jember", "Kota Surabaya"} <= {r.name for r in east_java}
    assert "Kabupaten Jayapura" in {r.name for r in regions.regencies("91")}
    assert regions.regencies("3") == () and regions.regencies("99") == ()


@pytest.mark.parametrize("code", ["99", "35.10.99", "35.10.15.9999", "", "35.1", "junk", "35.10.15.2004.1"])
def test_unknown_code_is_none(code):
    assert regions.get(code) is None


def test_get_tolerates_non_strings_and_whitespace():
    assert regions.get(None) is None  # type: ignore[arg-type]
    assert regions.get(" 35.10.15 ").name == "Glagah"


@pytest.mark.parametrize(
    "code, scope, expected",
    [
        ("35.10.15.2004", "35.10.15", True),
        ("35.10.15.2004", "35.10", True),
        ("35.10.15.2004", "35", True),
        ("35.10.15.2004", "35.10.15.2004", True),  # a region is within itself
        ("35.10.15", "35.10.15.2004", False),  # a parent is not within its child
        ("35.10.15.2004", "35.10.16", False),
        ("35.10", "35.1", False),  # "35.1" is not a component prefix of "35.10"
        ("35.10.15", "35.10.1", False),
        ("35.10.15.2004", "35.10.15.200", False),
        ("35.10.15.2004", "3", False),
        ("35.10.15.2004", "", False),
        ("35.10.15.2004", "35.", False),
        ("", "35", False),
        ("351015", "35", False),  # undotted NIK digits are not a region code
        (None, "35", False),
        ("36.10.15", "35", False),
        ("99.01", "99", True),  # structural: codes need not be in the data
        # across the country
        ("11.01.01.2001", "11", True),
        ("35.10.15.2004", "11", False),
        ("91.03.01.3007", "91.03", True),
        ("94.01", "91", False),
        ("35.09.01.2001", "35.10", False),  # Jember is not Banyuwangi
    ],
)
def test_is_within(code, scope, expected):
    assert regions.is_within(code, scope) is expected


def test_parent():
    assert regions.parent_code("35.10.15.2004") == "35.10.15"
    assert regions.parent_code("35.10.15") == "35.10"
    assert regions.parent_code("35.10") == "35"
    assert regions.parent_code("35") is None
    assert regions.parent_code("garbage") is None
    assert regions.parent("35.10").name == "Jawa Timur"
    assert regions.parent("35") is None
    assert regions.parent("36.01").name == "Banten"
    assert regions.parent("99.01") is None  # province 99 does not exist


@pytest.mark.parametrize(
    "nik, expected",
    [
        ("3510151203800001", "35.10.15"),
        ("3510214508920002", "35.10.21"),
        ("3510 1671 1255 0003", "35.10.16"),
    ],
)
def test_region_code_from_nik(nik, expected):
    code = regions.region_code_from_nik(nik)
    assert code == expected
    assert regions.get(code).level == "district"
    assert regions.is_within(code, "35.10")


@pytest.mark.parametrize("bad", ["351015120380001", "35101512038000x1", "", None])
def test_region_code_from_nik_rejects_malformed_without_echo(bad):
    with pytest.raises(ValueError) as err:
        regions.region_code_from_nik(bad)
    if bad:
        assert bad not in str(err.value)


# --- population ---------------------------------------------------------------------------------


def test_population_of_provinces_and_regencies():
    assert regions.population("35.10") == 1_791_789
    assert regions.population(" 35.10 ") == 1_791_789
    assert regions.population("35") == 41_919_906
    provinces = [r.code for r in regions.all_regions() if r.level == "province"]
    assert sum(regions.population(p) for p in provinces) == 284_973_643
    for p in provinces:  # a province's figure is its regencies' sum
        assert regions.population(p) == sum(regions.population(r.code) for r in regions.regencies(p)), p


@pytest.mark.parametrize("code", ["35.10.15", "35.10.15.2004", "99", "35.99", "junk", None])
def test_no_population_below_regency_or_for_unknown_codes(code):
    assert regions.population(code) is None


# --- checking a region file ---------------------------------------------------------------------


def _replace(lines, index, line):
    return [*lines[:index], line, *lines[index + 1:]]


# Each case changes one line of a copy of the shipped file (CRLF like it), whose first lines are
# 1 header, 2 "11,Aceh", 3 "11.01,Kabupaten Aceh Selatan", 4 "11.01.01,Bakongan" (7 villages follow),
# 5 "11.01.01.2001,Keude Bakongan". Then: the first problem's line and text, how many problems in all.
BAD_FILES = {
    "wrong columns": (lambda ls: _replace(ls, 0, "kode,nama\r\n"), 1, "expected the columns code,name, got kode,nama",
                      1),
    "semicolons": (lambda ls: _replace(ls, 0, "code;name\r\n"), 1, "expected the columns code,name", 1),
    "malformed code": (lambda ls: _replace(ls, 4, "11.01.01.201,Keude Bakongan\r\n"), 5,
                       "malformed code '11.01.01.201'", 1),
    "letter in a code": (lambda ls: _replace(ls, 3, "11.0l.01,Bakongan\r\n"), 4, "malformed code '11.0l.01'",
                         1 + 7),  # and its villages lose their parent
    "duplicate code": (lambda ls: [*ls[:10], ls[2], *ls[10:]], 11, "duplicate code 11.01 (first on line 3)", 1),
    "missing parent": (lambda ls: [*ls[:3], *ls[4:]], 4, "the parent 11.01.01 of 11.01.01.2001 is not in the file",
                       7),
    "empty name": (lambda ls: _replace(ls, 4, "11.01.01.2001,\r\n"), 5, "empty name for 11.01.01.2001", 1),
    "blank name": (lambda ls: _replace(ls, 4, "11.01.01.2001,  \r\n"), 5, "empty name for 11.01.01.2001", 1),
    "three fields": (lambda ls: _replace(ls, 4, "11.01.01.2001,Keude,Bakongan\r\n"), 5,
                     "expected 2 fields (code,name), got 3", 1),
    "one field": (lambda ls: _replace(ls, 4, "11.01.01.2001\r\n"), 5, "expected 2 fields (code,name), got 1", 1),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_a_bad_file_names_the_line_and_the_problem(tmp_path, shipped_lines, case):
    change, line, problem, count = BAD_FILES[case]
    path = write(tmp_path / "regions-2026.csv", change(shipped_lines))
    with pytest.raises(RegionFileError) as err:
        regions.check_file(path)
    assert isinstance(err.value, ValueError)
    assert str(err.value).startswith(f"{path}, line {line}: {problem}")
    assert err.value.count == count  # that change, and nothing else, is reported
    # Nothing else changed: the shipped list still loads and answers.
    assert regions.get("11.01").name == "Kabupaten Aceh Selatan"


def test_the_unchanged_copy_passes(tmp_path, shipped_lines):
    """The control for the cases above: their copy fails only for the one change."""
    assert regions.check_file(write(tmp_path / "regions.csv", shipped_lines)) == COUNTS


def test_a_missing_parent_is_reported_for_each_orphan(tmp_path, shipped_lines):
    bakongan = regions.villages("11.01.01")
    with pytest.raises(RegionFileError) as err:
        regions.check_file(write(tmp_path / "r.csv", [*shipped_lines[:3], *shipped_lines[4:]]))
    assert err.value.count == len(bakongan)
    assert f"(and {len(bakongan) - 1} more problems)" in str(err.value)


def test_blank_lines_spaces_bom_and_any_order_are_accepted(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffcode , name\r\n\r\n35.10 , Kabupaten Banyuwangi \r\n 35 ,Jawa Timur\r\n\r\n"
                     .encode("utf-8"))
    assert regions.check_file(path) == {"province": 1, "regency": 1, "district": 0, "village": 0}


@pytest.mark.parametrize(
    "content, line, problem",
    [
        (b"", None, "the file is empty"),
        (b"code,name\n", None, "no regions in the file"),
        (b"code,name\n35,Jawa Timur\n35.10,Kab\xe9\n", 3, "not UTF-8 text"),
    ],
)
def test_empty_and_undecodable_files(tmp_path, content, line, problem):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(RegionFileError) as err:
        regions.check_file(path)
    assert err.value.line == line and err.value.problem.startswith(problem)
    assert str(path) in str(err.value)


def test_a_line_break_inside_a_code_is_malformed(tmp_path):
    path = write(tmp_path / "r.csv", ["code,name\n", "35,Jawa Timur\n", '"35\n10",Kabupaten Banyuwangi\n'])
    with pytest.raises(RegionFileError, match="malformed code '35\\\\n10'"):
        regions.check_file(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(RegionFileError, match=f"{tmp_path / 'nope.csv'}: cannot be read"):
        regions.check_file(tmp_path / "nope.csv")


def test_many_problems_are_counted_not_all_kept(tmp_path):
    rows = [f"35.{i:03d},X\n" for i in range(150)]  # three digits: malformed
    with pytest.raises(RegionFileError) as err:
        regions.check_file(write(tmp_path / "r.csv", ["code,name\n", "35,Jawa Timur\n", *rows]))
    assert (err.value.count, len(err.value.problems)) == (150, 100)
    assert err.value.line == 3 and "(and 149 more problems)" in str(err.value)
    copy = pickle.loads(pickle.dumps(err.value))
    assert (str(copy), copy.count) == (str(err.value), 150)


# --- PERLINSOS_REGIONS_FILE ---------------------------------------------------------------------


def test_nothing_is_read_at_import():
    """Importing the module reads nothing: a broken list only fails the first lookup."""
    script = (
        "from perlinsos import regions\n"
        "assert regions.is_within('35.10.15', '35.10') and regions.parent_code('35.10') == '35'\n"
        "try:\n    regions.get('35')\nexcept regions.RegionFileError as e:\n    print(e)\n"
    )
    env = {**os.environ, regions.ENV_VAR: "/nonexistent/regions.csv"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("/nonexistent/regions.csv (PERLINSOS_REGIONS_FILE): cannot be read")


def test_an_operator_file_replaces_the_shipped_list(tmp_path, use_region_file):
    path = write(tmp_path / "regions-2026.csv", [  # in no particular order
        "code,name\n", "35.10.15.2013,Desa Baru\n", "35.10.15,Glagah\n", "35.10.02,Bangorejo\n",
        "35.10.15.2004,Kemiren Baru\n", "35.10,Kabupaten Banyuwangi\n", "35,Jawa Timur\n",
        "35.10.02.2001,Sukorejo\n",
    ])
    use_region_file(path)
    assert regions.get("35.10.15.2004").name == "Kemiren Baru"
    assert [v.code for v in regions.villages("35.10")] == ["35.10.02.2001", "35.10.15.2004", "35.10.15.2013"]
    assert [r.code for r in regions.all_regions()] == [
        "35", "35.10", "35.10.02", "35.10.02.2001", "35.10.15", "35.10.15.2004", "35.10.15.2013"]
    assert regions.get("11") is None  # replaced, not merged
    assert regions.population("35.10") == 1_791_789  # population stays the shipped one
    assert regions.data_file() == str(path)


def test_a_bad_operator_file_fails_at_first_use_with_its_line(tmp_path, use_region_file):
    path = write(tmp_path / "regions-2026.csv", ["code,name\n", "35,Jawa Timur\n", "35.10.1,Kabupaten X\n"])
    use_region_file(path)
    expected = f"{path} ({regions.ENV_VAR}), line 3: malformed code '35.10.1'"
    for _ in range(2):  # and again on later lookups
        with pytest.raises(RegionFileError) as err:
            regions.get("35")
        assert str(err.value).startswith(expected)
    write(path, ["code,name\n", "35,Jawa Timur\n"])
    with pytest.raises(RegionFileError):  # a process reads the list once: fixing the file needs a restart
        regions.villages("35")


def test_back_on_the_shipped_list_after_an_operator_file(tmp_path, use_region_file, monkeypatch):
    use_region_file(write(tmp_path / "r.csv", ["code,name\n", "35,Jawa Timur\n"]))
    assert regions.get("11") is None
    monkeypatch.delenv(regions.ENV_VAR)
    regions._reset()
    assert regions.get("11").name == "Aceh"
    assert regions.data_file() == str(SHIPPED)


# --- perlinsos regions --------------------------------------------------------------------------


def test_cli_check_prints_counts_per_level(tmp_path, shipped_lines):
    result = CliRunner().invoke(main, ["regions", "check", str(write(tmp_path / "r.csv", shipped_lines))])
    assert result.exit_code == 0, result.output
    assert "provinces:             38" in result.output
    assert "villages:          83,762" in result.output


def test_cli_check_defaults_to_the_list_in_use(tmp_path, use_region_file):
    result = CliRunner().invoke(main, ["regions", "check"])
    assert result.exit_code == 0 and f"{SHIPPED}: ok" in result.output and "7,285" in result.output
    small = write(tmp_path / "r.csv", ["code,name\n", "35,Jawa Timur\n"])
    use_region_file(small)
    result = CliRunner().invoke(main, ["regions", "check"])
    assert result.exit_code == 0 and f"{small}: ok" in result.output


def test_cli_check_reports_every_problem_with_exit_code_2(tmp_path, shipped_lines):
    lines = _replace(_replace(shipped_lines, 4, "11.01.01.201,Keude\r\n"), 6, "11.01.01.2003,\r\n")
    result = CliRunner().invoke(main, ["regions", "check", str(write(tmp_path / "r.csv", lines))])
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'r.csv'}, line 5: malformed code '11.01.01.201'" in result.output
    assert "(and 1 more problem)\n  line 7: empty name for 11.01.01.2003\n" in result.output


def test_cli_show_a_regency():
    result = CliRunner().invoke(main, ["regions", "show", "35.10"])
    assert result.exit_code == 0, result.output
    assert "name:       Kabupaten Banyuwangi" in result.output
    assert "level:      regency" in result.output
    assert "in:         Jawa Timur (35)" in result.output
    assert "population: 1,791,789" in result.output
    assert "contains:   25 districts" in result.output


def test_cli_show_a_village_has_its_parent_chain():
    result = CliRunner().invoke(main, ["regions", "show", "35.10.15.2004"])
    assert result.exit_code == 0, result.output
    assert "level:      village (desa)" in result.output
    assert "in:         Jawa Timur (35) > Kabupaten Banyuwangi (35.10) > Glagah (35.10.15)" in result.output
    assert "(Kabupaten Banyuwangi: 1,791,789)" in result.output
    assert "contains" not in result.output


def test_cli_show_an_unknown_code_fails():
    result = CliRunner().invoke(main, ["regions", "show", "35.99"])
    assert result.exit_code == 2
    assert "'35.99' is not a region of the list in use" in result.output


def test_cli_show_with_a_bad_operator_file_names_it(tmp_path, use_region_file):
    bad = write(tmp_path / "r.csv", ["code,name\n", "35.10,Kabupaten Banyuwangi\n"])
    use_region_file(bad)
    result = CliRunner().invoke(main, ["regions", "show", "35.10"])
    assert result.exit_code == 1
    assert f"{bad} ({regions.ENV_VAR}), line 2: the parent 35 of 35.10 is not in the file" in result.output
