"""NIK, KK and mobile-number validation (rules and examples from DOMAIN.md; all NIKs are synthetic)."""

from datetime import date

import pytest

from perlinsos.idnumbers import (
    PROVINCE_CODES, IdNumberError, InvalidKk, InvalidNik, InvalidPhone, Kk, Nik, is_valid_kk, is_valid_nik,
    is_valid_phone, mask_kk, mask_nik, normalize_phone, parse_kk, parse_nik,
)

TODAY = date(2026, 1, 15)


# --- NIK: valid ---------------------------------------------------------------------------------


def test_man_from_glagah():
    nik = parse_nik("3510151203800001", today=TODAY)
    assert isinstance(nik, Nik)
    assert nik.value == "3510151203800001"
    assert (nik.province, nik.regency, nik.district) == ("35", "35.10", "35.10.15")
    assert nik.region_code == "35.10.15"
    assert nik.birth_date == date(1980, 3, 12)
    assert nik.sex == "M"
    assert nik.serial == "0001"


def test_woman_from_kalipuro():
    nik = parse_nik("3510214508920002", today=TODAY)
    assert nik.region_code == "35.10.21"
    assert nik.birth_date == date(1992, 8, 5)
    assert nik.sex == "F"
    assert nik.serial == "0002"


def test_woman_born_new_years_eve_1955():
    nik = parse_nik("3510167112550003", today=TODAY)
    assert nik.birth_date == date(1955, 12, 31)
    assert nik.sex == "F"
    assert nik.region_code == "35.10.16"


def test_nik_is_frozen_and_repr_masks_the_number():
    nik = parse_nik("3510151203800001", today=TODAY)
    with pytest.raises(AttributeError):
        nik.value = "3510151203800002"  # type: ignore[misc]
    assert "3510151203800001" not in repr(nik)
    assert "3510********0001" in repr(nik)


@pytest.mark.parametrize(
    "raw",
    ["3510 1512 0380 0001", " 3510151203800001 ", "\t351015 120380 0001\n", "35 10 15 12 03 80 00 01"],
)
def test_spaces_are_stripped(raw):
    assert parse_nik(raw, today=TODAY).value == "3510151203800001"


# --- NIK: century rule --------------------------------------------------------------------------


def test_year_not_in_future_is_this_century():
    assert parse_nik("3510151203250001", today=date(2026, 6, 1)).birth_date == date(2025, 3, 12)


def test_year_in_future_is_last_century():
    assert parse_nik("3510151203300001", today=date(2026, 6, 1)).birth_date == date(1930, 3, 12)


def test_century_decided_by_full_date_in_current_year():
    # Born 12-03-26: by 2026-06-01 that is in the past, on 2026-01-15 it would still be in the future.
    assert parse_nik("3510151203260001", today=date(2026, 6, 1)).birth_date == date(2026, 3, 12)
    assert parse_nik("3510151203260001", today=date(2026, 1, 15)).birth_date == date(1926, 3, 12)


def test_born_today_is_accepted():
    assert parse_nik("3510151501260001", today=TODAY).birth_date == TODAY


# --- NIK: leap years ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, born",
    [
        ("3510152902880001", date(1988, 2, 29)),
        ("3510156902040001", date(2004, 2, 29)),  # woman
        ("3510152902000001", date(2000, 2, 29)),  # 2000 is a leap year (1900 was not)
    ],
)
def test_feb_29_on_leap_year(raw, born):
    assert parse_nik(raw, today=TODAY).birth_date == born


def test_feb_29_on_non_leap_year_is_invalid():
    with pytest.raises(InvalidNik) as err:
        parse_nik("3510152902890001", today=TODAY)
    assert err.value.code == "DATE"


# --- NIK: invalid -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, code",
    [
        ("3510151213800001", "DATE"),  # month 13
        ("3510157201800001", "DATE"),  # day 72 for a woman is 32
        ("3510153201800001", "DATE"),  # day 32 for a man
        ("3510150001800001", "DATE"),  # day 00
        ("3510154001800001", "DATE"),  # day 40: neither a man's nor a woman's day
        ("3510153102800001", "DATE"),  # 31 February
        ("3510151200800001", "DATE"),  # month 00
        ("3510151203800000", "SERIAL"),  # serial 0000
        ("351015120380001", "LENGTH"),  # 15 digits
        ("35101512038000011", "LENGTH"),  # 17 digits
        ("9910151203800001", "PROVINCE"),  # no province 99
        ("0010151203800001", "PROVINCE"),
        ("2010151203800001", "PROVINCE"),
        ("9710151203800001", "PROVINCE"),  # 97 is a BPS code, not Kemendagri
        ("3500151203800001", "REGION"),  # regency 00
        ("3510001203800001", "REGION"),  # district 00
        ("3510.15.120380.0001", "NOT_DIGITS"),
        ("3510-1512-0380-0001", "NOT_DIGITS"),
        ("351015120380000A", "NOT_DIGITS"),
        ("３５１０１５１２０３８０００01", "NOT_DIGITS"),  # full-width digits
        ("", "EMPTY"),
        ("   ", "EMPTY"),
    ],
)
def test_invalid_nik(raw, code):
    with pytest.raises(InvalidNik) as err:
        parse_nik(raw, today=TODAY)
    assert err.value.code == code
    assert err.value.field == "nik"
    assert isinstance(err.value, IdNumberError)
    assert isinstance(err.value, ValueError)
    assert not is_valid_nik(raw, today=TODAY)


def test_none_is_empty_and_other_types_are_rejected():
    with pytest.raises(InvalidNik) as err:
        parse_nik(None)  # type: ignore[arg-type]
    assert err.value.code == "EMPTY"
    with pytest.raises(TypeError):
        parse_nik(3510151203800001)  # type: ignore[arg-type]
    assert is_valid_nik(None) is False
    assert is_valid_nik(3510151203800001) is False


def test_is_valid_nik():
    assert is_valid_nik("3510151203800001") is True  # default today
    assert is_valid_nik("3510214508920002", today=TODAY) is True
    assert is_valid_nik("3510151213800001") is False


def test_birth_date_in_future_is_invalid_even_in_last_century():
    with pytest.raises(InvalidNik) as err:
        parse_nik("3510151203800001", today=date(1979, 1, 1))
    assert err.value.code == "DATE"


def test_all_province_codes_accepted():
    assert len(PROVINCE_CODES) == 38
    for code in PROVINCE_CODES:
        assert is_valid_nik(code + "10151203800001", today=TODAY), code
    for new_papua in ("93", "94", "95", "96"):
        assert new_papua in PROVINCE_CODES


# --- Error messages -----------------------------------------------------------------------------

BAD_NIKS = ["3510151213800001", "3510157201800001", "3510151203800000", "351015120380001"]
BAD_NIKS += ["9910151203800001", "3500151203800001", "35101512038000x1"]


@pytest.mark.parametrize("raw", BAD_NIKS)
def test_messages_never_contain_the_number(raw):
    with pytest.raises(InvalidNik) as err:
        parse_nik(raw, today=TODAY)
    texts = [err.value.message(), err.value.message("id"), err.value.message("en"), str(err.value)]
    texts += [repr(err.value), *map(str, err.value.args)]
    for text in texts:
        assert raw not in text
        assert raw[:6] not in text  # the region part is personal too (with the message "0000" may appear)


def test_messages_in_both_languages():
    with pytest.raises(InvalidNik) as err:
        parse_nik("351015120380001")
    assert err.value.message() == "NIK harus terdiri dari 16 digit."
    assert err.value.message("id") == "NIK harus terdiri dari 16 digit."
    assert err.value.message("en") == "The NIK must be exactly 16 digits."
    assert err.value.message("en-US") == err.value.message("en")
    assert err.value.message("fr") == err.value.message("id")  # unknown language falls back to Indonesian
    assert "The NIK must be exactly 16 digits." in str(err.value)


@pytest.mark.parametrize("error", [InvalidNik, InvalidKk, InvalidPhone])
def test_every_code_has_both_languages(error):
    for code in error.MESSAGES:
        exc = error(code)
        assert exc.code == code
        assert exc.message("id") and exc.message("en")
        assert exc.message("id") != exc.message("en")


def test_unknown_error_code_is_a_bug():
    with pytest.raises(KeyError):
        InvalidNik("NOPE")


# --- Masking ------------------------------------------------------------------------------------


def test_mask_nik():
    assert mask_nik("3510151203800001") == "3510********0001"
    assert mask_nik("3510 1512 0380 0001") == "3510********0001"


def test_mask_never_reveals_short_or_odd_input():
    assert mask_nik("12345678") == "********"
    assert mask_nik("") == ""
    assert mask_nik(None) == "****"  # type: ignore[arg-type]
    assert mask_kk("3510150101200001") == "3510********0001"


# --- KK -----------------------------------------------------------------------------------------


def test_parse_kk():
    kk = parse_kk(" 3510 1501 0120 0001 ")
    assert isinstance(kk, Kk)
    assert kk.value == "3510150101200001"
    assert kk.region_code == "35.10.15"
    assert (kk.province, kk.regency, kk.district) == ("35", "35.10", "35.10.15")
    assert kk.serial == "0001"
    assert "3510150101200001" not in repr(kk)
    assert is_valid_kk("3510150101200001")


@pytest.mark.parametrize(
    "raw, code",
    [
        ("3510150101200000", "SERIAL"),
        ("351015010120000", "LENGTH"),
        ("9910150101200001", "PROVINCE"),
        ("3510000101200001", "REGION"),
        ("3510-1501-0120-0001", "NOT_DIGITS"),
        ("", "EMPTY"),
    ],
)
def test_invalid_kk(raw, code):
    with pytest.raises(InvalidKk) as err:
        parse_kk(raw)
    assert err.value.code == code
    assert err.value.field == "kk"
    if raw:
        assert raw not in err.value.message("id") + err.value.message("en") + str(err.value)
    assert not is_valid_kk(raw)


# --- Mobile numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["081234567890", "+62 812-3456-7890", "6281234567890", "62 812 3456 7890", "+6281234567890"]
    + ["0812-3456-7890", "0812.3456.7890", "(0812) 3456 7890", "+62 (0812) 3456-7890", "0062 812 3456 7890"]
    + ["  081234567890  "],
)
def test_normalize_phone(raw):
    assert normalize_phone(raw) == "+6281234567890"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("0812345678", "+62812345678"),  # shortest: 8[1-35-9] + 7 digits
        ("0881234567890", "+62881234567890"),
        ("0895 1234 5678", "+6289512345678"),
        ("0852-1234-5678", "+6285212345678"),
        ("0838 1234 5678", "+6283812345678"),
    ],
)
def test_other_mobile_ranges(raw, expected):
    assert normalize_phone(raw) == expected
    assert is_valid_phone(raw)


@pytest.mark.parametrize(
    "raw, code",
    [
        ("0215551234", "NOT_MOBILE"),  # Jakarta landline
        ("+62 21 5551234", "NOT_MOBILE"),
        ("+6591234567", "COUNTRY"),  # Singapore
        ("0065 9123 4567", "COUNTRY"),
        ("0812345", "LENGTH"),  # too short
        ("081234567", "LENGTH"),  # 8 digits after 08... one too few
        ("08123456789012", "LENGTH"),  # too long
        ("0841234567", "PREFIX"),  # 8[1-35-9] excludes 84
        ("084123456789", "PREFIX"),
        ("0801234567", "PREFIX"),
        ("abc", "FORMAT"),
        ("0812CALLME", "FORMAT"),  # phonenumbers would turn letters into digits
        ("0812 3456 7890 ext 1", "FORMAT"),
        ("+", "FORMAT"),
        ("", "EMPTY"),
        ("   ", "EMPTY"),
    ],
)
def test_invalid_phone(raw, code):
    with pytest.raises(InvalidPhone) as err:
        normalize_phone(raw)
    assert err.value.code == code
    assert err.value.field == "phone"
    assert not is_valid_phone(raw)
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) >= 4:
        assert digits not in err.value.message("id") + err.value.message("en") + str(err.value)


def test_phone_messages_in_both_languages():
    with pytest.raises(InvalidPhone) as err:
        normalize_phone("0215551234")
    assert "HP" in err.value.message()
    assert "mobile" in err.value.message("en")


def test_phone_none():
    with pytest.raises(InvalidPhone) as err:
        normalize_phone(None)  # type: ignore[arg-type]
    assert err.value.code == "EMPTY"
    assert is_valid_phone(None) is False
