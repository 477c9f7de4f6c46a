"""Region codes shipped in perlinsos/data (Kemendagri kode wilayah for Banyuwangi)."""

from importlib.resources import files

import pytest

from perlinsos import regions
from perlinsos.regions import Region


def test_data_files_are_packaged():
    data = files("perlinsos") / "data"
    assert (data / "regions_banyuwangi.csv").is_file()
    assert "MIT License" in (data / "LICENSE.wilayah").read_text(encoding="utf-8")


def test_province_and_regency():
    assert regions.get("35") == Region("35", "Jawa Timur", "province", None)
    assert regions.get("35.10") == Region("35.10", "Kabupaten Banyuwangi", "regency", None)


def test_banyuwangi_has_25_kecamatan():
    districts = regions.districts("35.10")
    assert len(districts) == 25
    assert all(d.level == "district" and d.kind is None for d in districts)
    assert [d.code for d in districts] == sorted(d.code for d in districts)
    assert districts[0].code == "35.10.01"
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
    assert lateng is not None
    assert lateng.name == "Lateng"
    assert lateng.level == "village"
    assert lateng.kind == "kelurahan"
    assert regions.parent(lateng.code).name == "Banyuwangi"


def test_every_village_is_desa_or_kelurahan():
    villages = regions.villages()
    assert villages
    assert {v.kind for v in villages} == {"desa", "kelurahan"}
    for v in villages:
        assert regions.get(regions.parent_code(v.code)) is not None, v.code


def test_villages_by_prefix():
    glagah = regions.villages("35.10.15")
    assert "35.10.15.2004" in {v.code for v in glagah}
    assert all(regions.is_within(v.code, "35.10.15") for v in glagah)
    assert len(regions.villages("35.10")) == len(regions.villages())
    assert regions.villages("35.10.99") == ()
    assert regions.villages("35.1") == ()  # not a raw string prefix


def test_all_regions():
    everything = regions.all_regions()
    assert everything[0].code == "35"
    assert everything[1].code == "35.10"
    assert len(everything) == len({r.code for r in everything})
    assert regions.all_regions() is everything  # loaded once


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
    assert regions.parent("36.01") is None  # province 36 is not in the data


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
