"""NIK edges the main NIK tests left open (found by mutation testing): the first day a woman's
NIK encodes (41 = the 1st) and ``is_valid_nik`` deciding the century
with the ``today`` it is given (29 February 2000 exists, 29 February 1900 does not)."""

from __future__ import annotations

from datetime import date

from perlinsos.idnumbers import is_valid_nik, parse_nik


def test_day_41_is_a_woman_born_on_the_first():
    nik = parse_nik("3510154103800007", today=date(2026, 1, 1))
    assert (nik.sex, nik.birth_date, nik.serial) == ("F", date(1980, 3, 1), "0007")
    man = parse_nik("3510153103800007", today=date(2026, 1, 1))
    assert (man.sex, man.birth_date) == ("M", date(1980, 3, 31))


def test_is_valid_nik_decides_the_century_with_the_given_day():
    leap = "3510152902000001"  # 29-02-(20)00: a real day; 29-02-(19)00 is not
    assert is_valid_nik(leap, today=date(2026, 1, 1))
    assert not is_valid_nik(leap, today=date(1999, 12, 31))  # 2000 lies ahead then: 1900 it is
    assert is_valid_nik(leap)  # today's date
