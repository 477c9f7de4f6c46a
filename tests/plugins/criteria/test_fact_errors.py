"""A fact that carries an error is UNKNOWN, even when it also carries a value: a source that says it
could not answer properly (another household's record, a timeout after a partial answer, data it
flags as invalid) never decides a citizen's eligibility on that value, either way. Every criterion the
plugin gives through the plugin manager."""

from __future__ import annotations

from datetime import date

import pytest

from perlinsos.contract import Verdict
from perlinsos_criteria import facts as F

from .helpers import fact, ref_of

PERSON = {"nik": "3510151203800001", "kk_number": "3510150101200001", "region_code": "35.10.15.2004"}
# per fact: a value that fails its criterion and one that passes (under the default limits)
VALUES = {
    F.NIK_VALID: (False, True),
    "state_employment": (["ASN"], []),
    "monthly_income": (9_000_000, 1_000_000),
    "bank_flags": (["JUDI_ONLINE"], []),
    "electricity_va": (2200, 900),
    "welfare_decile": (9, 1),
    "car_ownership": (2, 0),
    F.OTHER_REGISTRATIONS: (["JBR-2026"], []),
}
ERRORS = [F.HOUSEHOLD_MISMATCH, F.SOURCE_TIMEOUT, F.INVALID_DATA, "SOMETHING_NEW"]


@pytest.fixture
async def criteria(hooks_for):
    found = await hooks_for().merged("eligibility_criteria", programme="PKH")
    return [c for c in found if getattr(c, "fact", None) in VALUES]


async def test_every_fact_criterion_is_covered(criteria):
    assert sorted(c.fact for c in criteria) == sorted(VALUES)


@pytest.mark.parametrize("error", ERRORS)
async def test_an_error_with_a_value_is_unknown(criteria, error):
    for criterion in criteria:
        failing, passing = VALUES[criterion.fact]
        for value in (failing, passing):
            result = criterion.evaluate({criterion.fact: fact(criterion.fact, value, "Sumber", error=error)},
                                        ref_of(PERSON, 1))
            assert (criterion.code, result.verdict, result.detail) == (criterion.code, Verdict.UNKNOWN, error)
            assert result.observed is None and result.source == "Sumber"


async def test_the_same_values_without_an_error_are_judged(criteria):
    """The control: without the error each value gives its verdict (so the test above is about the error)."""
    for criterion in criteria:
        failing, passing = VALUES[criterion.fact]
        judged = [criterion.evaluate({criterion.fact: fact(criterion.fact, v, "Sumber")}, ref_of(PERSON, 1)).verdict
                  for v in (failing, passing)]
        assert judged == [Verdict.FAIL, Verdict.PASS], criterion.code


# --- what an UNKNOWN (or a FAIL without a source) records with the decision ------------------------


@pytest.mark.parametrize("value", [None, "not a number"])
async def test_an_unknown_keeps_the_facts_date_the_limit_and_the_source(criteria, value):
    """A missing value (error given) or one of the wrong shape: the notice still says which source
    and as of when, and the limit that would have applied."""
    for criterion in criteria:
        if criterion.fact == F.NIK_VALID:
            continue
        error = "SOURCE_TIMEOUT" if value is None else None
        given = fact(criterion.fact, value, "Sumber", date(2025, 7, 1), error=error)
        result = criterion.evaluate({criterion.fact: given}, ref_of(PERSON, 1))
        detail = "SOURCE_TIMEOUT" if value is None else F.INVALID_DATA
        assert (result.verdict, result.detail, result.source, result.as_of, result.limit) == (
            Verdict.UNKNOWN, detail, "Sumber", date(2025, 7, 1), criterion.limit), criterion.code


async def test_a_malformed_nik_fails_without_a_source_and_a_region_out_of_shape_is_unknown(hooks_for):
    found = {c.code: c for c in await hooks_for(region_codes=("35.10",)).merged("eligibility_criteria",
                                                                                programme="PKH")}
    malformed = found["NIK_INVALID"].evaluate({}, ref_of(PERSON, 1, nik="35101512038000"))
    assert (malformed.verdict, malformed.observed, malformed.source, malformed.detail) == (
        Verdict.FAIL, False, F.PLATFORM_SOURCE, "MALFORMED")
    region = found["OUTSIDE_PILOT_REGION"]
    odd = region.evaluate({}, ref_of(PERSON, 1, region_code="35.10.15.20"))
    assert (odd.verdict, odd.limit, odd.source, odd.detail, odd.observed) == (
        Verdict.UNKNOWN, ["35.10"], "Dukcapil", F.INVALID_DATA, None)
    inside = region.evaluate({}, ref_of(PERSON, 1))
    assert (inside.verdict, inside.observed, inside.limit) == (Verdict.PASS, "35.10.15.2004", ["35.10"])
    assert region.evaluate({}, ref_of(PERSON, 1, region_code="35.09.01.2001")).verdict == Verdict.FAIL


# value -> the criterion judges it (True) or calls it INVALID_DATA (False), at the edges of each range
EDGES = {
    "monthly_income": [(0, True), (10**12, True), (-1, False), (10**12 + 1, False), (True, False), (2.0, False)],
    "electricity_va": [(1, True), (10**7, True), (0, False), (10**7 + 1, False)],
    "welfare_decile": [(1, True), (10, True), (0, False), (11, False)],
    "car_ownership": [(0, True), (10_000, True), (-1, False), (10_001, False)],
    F.NIK_VALID: [(True, True), (False, True), (1, False), ("true", False)],
    "bank_flags": [([], True), (["JUDI_ONLINE", "JUDI_ONLINE"], True), (["BARU"], False), ("JUDI_ONLINE", False),
                   ([1], False)],
    "state_employment": [(("ASN",), True), (["asn"], False), ([""], False)],
    F.OTHER_REGISTRATIONS: [(["X" * 40], True), (["X" * 41], False), ([""], False)],
}


async def test_values_at_the_edges_of_their_range(criteria):
    for criterion in criteria:
        for value, judged in EDGES[criterion.fact]:
            result = criterion.evaluate({criterion.fact: fact(criterion.fact, value, "Sumber")}, ref_of(PERSON, 1))
            assert (result.verdict != Verdict.UNKNOWN) == judged, (criterion.code, value)
            assert result.detail == (None if judged else F.INVALID_DATA), (criterion.code, value)


async def test_codes_are_stored_sorted_without_repeats(criteria):
    [flags] = [c for c in criteria if c.fact == "bank_flags"]
    result = flags.evaluate({"bank_flags": fact("bank_flags", ["TRANSAKSI_TIDAK_WAJAR", "JUDI_ONLINE",
                                                               "JUDI_ONLINE"])}, ref_of(PERSON, 1))
    assert (result.verdict, result.observed) == (Verdict.FAIL, ["JUDI_ONLINE", "TRANSAKSI_TIDAK_WAJAR"])
