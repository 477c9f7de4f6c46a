"""A fact that carries an error is UNKNOWN, even when it also carries a value: a source that says it
could not answer properly (another household's record, a timeout after a partial answer, data it
flags as invalid) never decides a citizen's eligibility on that value, either way. Every criterion the
plugin gives through the plugin manager."""

from __future__ import annotations

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
