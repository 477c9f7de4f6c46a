"""Every criterion: PASS, FAIL and UNKNOWN, boundaries, the pilot's limits, ``disabled``, and the texts."""

from __future__ import annotations

import json
from datetime import date

import pytest

from perlinsos.contract import Criterion, CriterionResult, Verdict
from perlinsos.messages import reason_message
from perlinsos_criteria import (
    AlreadyRegistered,
    ElectricityAboveLimit,
    IncomeAboveLimit,
    NikInvalid,
    OutsidePilotRegion,
    OwnsCar,
    StateEmployee,
    UnusualTransactions,
    WelfareDecileAboveLimit,
)
from perlinsos_criteria.settings import REASON_CODES

from .helpers import fact
from .helpers import ref_of as _ref_of

PERSON = {"nik": "3510151203800001", "kk_number": "3510150101200001", "region_code": "35.10.15.2004"}
AUG1 = date(2025, 8, 1)


def ref(**changes):
    return _ref_of(PERSON, 1, **changes)


def judge(criterion, *facts, registrant=None) -> CriterionResult:
    result = criterion.evaluate({f.name: f for f in facts}, registrant or ref())
    assert isinstance(result, CriterionResult) and result.code == criterion.code
    json.dumps([result.observed, result.limit])  # stored with the decision as JSON
    return result


def verdicts(criterion, name, values, source="test"):
    return [judge(criterion, fact(name, v, source)).verdict.value for v in values]


# --- the set of criteria ---------------------------------------------------------------------------


async def test_one_criterion_per_reason_code_through_the_plugin_manager(hooks_for):
    criteria = await hooks_for().merged("eligibility_criteria", programme="PKH")
    assert tuple(c.code for c in criteria) == REASON_CODES
    assert all(isinstance(c, Criterion) and isinstance(c.version, str) and c.version for c in criteria)
    assert all(callable(c.messages) for c in criteria)


async def test_disabled_codes_are_not_returned(hooks_for):
    criteria = await hooks_for(disabled=["OWNS_CAR", "NIK_INVALID"]).merged("eligibility_criteria", programme="PKH")
    assert [c.code for c in criteria] == [c for c in REASON_CODES if c not in ("OWNS_CAR", "NIK_INVALID")]


async def test_limits_come_from_the_pilot(hooks_for):
    """A pilot with an income limit of Rp2,000,000 excludes a household earning Rp2,500,000."""
    income = fact("monthly_income", 2_500_000, "BPJS Ketenagakerjaan")

    async def income_verdict(**settings):
        criteria = await hooks_for(**settings).merged("eligibility_criteria", programme="PKH")
        [criterion] = [c for c in criteria if c.code == "INCOME_ABOVE_LIMIT"]
        return judge(criterion, income)

    default, strict = await income_verdict(), await income_verdict(income_limit=2_000_000)
    assert (default.verdict, default.limit) == (Verdict.PASS, 2_810_139)
    assert (strict.verdict, strict.observed, strict.limit) == (Verdict.FAIL, 2_500_000, 2_000_000)

    criteria = await hooks_for(electricity_limit_va=900).merged("eligibility_criteria", programme="PKH")
    [electricity] = [c for c in criteria if c.code == "ELECTRICITY_ABOVE_LIMIT"]
    assert judge(electricity, fact("electricity_va", 1300, "PLN")).verdict is Verdict.FAIL


@pytest.mark.parametrize(("programme", "settings", "limit"), [
    ("PKH", {}, 4), ("SEMBAKO", {}, 5), ("PBI_JK", {}, 5),
    ("PKH", {"decile_limits": {"PKH": 3}}, 3), ("SEMBAKO", {"decile_limits": {"PKH": 3}}, 5),
])
async def test_decile_limit_per_programme(hooks_for, programme, settings, limit):
    criteria = await hooks_for(**settings).merged("eligibility_criteria", programme=programme)
    [decile] = [c for c in criteria if c.code == "WELFARE_DECILE_ABOVE_LIMIT"]
    assert decile.limit == limit and decile.programme == programme
    assert judge(decile, fact("welfare_decile", limit, "DTSEN")).verdict is Verdict.PASS
    assert judge(decile, fact("welfare_decile", limit + 1, "DTSEN")).verdict is Verdict.FAIL


# --- each criterion ---------------------------------------------------------------------------------


def test_income_above_limit():
    income = IncomeAboveLimit(2_810_139)
    assert verdicts(income, "monthly_income", [0, 2_810_138, 2_810_139, 2_810_140, 15_000_000]) == [
        "PASS", "PASS", "PASS", "FAIL", "FAIL"]  # equal to the UMK passes
    result = judge(income, fact("monthly_income", 3_650_000, "BPJS Ketenagakerjaan", date(2025, 7, 31)))
    assert (result.observed, result.limit, result.source, result.as_of) == (
        3_650_000, 2_810_139, "BPJS Ketenagakerjaan", date(2025, 7, 31))


def test_electricity_above_limit():
    electricity = ElectricityAboveLimit(1300)
    assert verdicts(electricity, "electricity_va", [450, 900, 1300, 1301, 2200, 6600]) == [
        "PASS", "PASS", "PASS", "FAIL", "FAIL", "FAIL"]
    result = judge(electricity, fact("electricity_va", 2200, "PLN", AUG1))
    assert (result.verdict, result.observed, result.limit, result.source, result.as_of) == (
        Verdict.FAIL, 2200, 1300, "PLN", AUG1)


def test_welfare_decile_above_limit():
    pkh = WelfareDecileAboveLimit("PKH", 4)
    assert verdicts(pkh, "welfare_decile", [1, 4, 5, 10]) == ["PASS", "PASS", "FAIL", "FAIL"]
    assert judge(pkh, fact("welfare_decile", 7, "DTSEN")).limit == 4


def test_state_employee():
    assert verdicts(StateEmployee(), "state_employment", [[], ["ASN"], ["BUMN", "TNI"], ["POLRI"], ["BUMD"]]) == [
        "PASS", "FAIL", "FAIL", "FAIL", "FAIL"]
    result = judge(StateEmployee(), fact("state_employment", ["TNI", "ASN", "TNI"], "BKN"))
    assert result.observed == ["ASN", "TNI"]  # sorted, without repeats


def test_unusual_transactions():
    flags = UnusualTransactions()
    assert verdicts(flags, "bank_flags", [[], ["JUDI_ONLINE"], ["TRANSAKSI_TIDAK_WAJAR", "JUDI_ONLINE"]]) == [
        "PASS", "FAIL", "FAIL"]
    assert judge(flags, fact("bank_flags", ["JUDI_ONLINE"], "PPATK")).source == "PPATK"


def test_owns_car():
    assert verdicts(OwnsCar(), "car_ownership", [0, 1, 2]) == ["PASS", "FAIL", "FAIL"]
    assert judge(OwnsCar(), fact("car_ownership", 2, "Korlantas Polri")).observed == 2


def test_nik_invalid():
    nik = NikInvalid()
    assert verdicts(nik, "platform.nik_valid", [True, False], "Perlinsos") == ["PASS", "FAIL"]
    # Without the platform's fact: a well-formed NIK waits, a malformed one fails on its own.
    assert judge(nik).verdict is Verdict.UNKNOWN
    malformed = judge(nik, registrant=ref(nik="3510151213800001"))  # month 13
    assert (malformed.verdict, malformed.source, malformed.detail) == (Verdict.FAIL, "Perlinsos", "MALFORMED")


def test_already_registered():
    elsewhere = AlreadyRegistered()
    assert verdicts(elsewhere, "platform.other_registrations", [[], ["JMR-2025"]], "Perlinsos") == ["PASS", "FAIL"]
    assert judge(elsewhere, fact("platform.other_registrations", ["JMR-2025"], "Perlinsos")).observed == ["JMR-2025"]


def test_outside_pilot_region():
    region = OutsidePilotRegion(("35.10.15", "35.10.16.1014"))
    inside = judge(region, registrant=ref(region_code="35.10.15.2004"))  # Kemiren, in Glagah
    assert (inside.verdict, inside.observed, inside.limit) == (
        Verdict.PASS, "35.10.15.2004", ["35.10.15", "35.10.16.1014"])
    assert judge(region, registrant=ref(region_code="35.10.16.1014")).verdict is Verdict.PASS  # Lateng itself
    assert judge(region, registrant=ref(region_code="35.10.16.2001")).verdict is Verdict.FAIL  # another village
    assert judge(region, registrant=ref(region_code="35.09.01.2001")).verdict is Verdict.FAIL  # Jember
    assert judge(region, registrant=ref(region_code="35.1")).verdict is Verdict.UNKNOWN  # malformed: not a reason
    assert judge(OutsidePilotRegion(("35.10",)), registrant=ref(region_code="35.10.25.2001")).verdict is Verdict.PASS


FACT_CRITERIA = [(IncomeAboveLimit(2_810_139), "monthly_income", "BPJS Ketenagakerjaan"),
                 (ElectricityAboveLimit(1300), "electricity_va", "PLN"),
                 (WelfareDecileAboveLimit("PKH", 4), "welfare_decile", "DTSEN"),
                 (StateEmployee(), "state_employment", "BKN"), (UnusualTransactions(), "bank_flags", "PPATK"),
                 (OwnsCar(), "car_ownership", "Korlantas Polri"),
                 (NikInvalid(), "platform.nik_valid", "Perlinsos"),
                 (AlreadyRegistered(), "platform.other_registrations", "Perlinsos")]
GARBAGE = {"monthly_income": ["3 juta", -1, True, 2.5e6], "electricity_va": [0, -900, "900", None],
           "welfare_decile": [0, 11, "4", 4.0], "state_employment": ["ASN", ["PNS"], [1]],
           "bank_flags": ["JUDI_ONLINE", ["NARKOBA"], {}], "car_ownership": [-1, True, "1"],
           "platform.nik_valid": ["yes", 1], "platform.other_registrations": ["JMR-2025", [3]]}


@pytest.mark.parametrize(("criterion", "name", "source"), FACT_CRITERIA, ids=[c.code for c, _, _ in FACT_CRITERIA])
def test_missing_failed_or_garbled_facts_are_unknown(criterion, name, source):
    missing = judge(criterion)
    assert (missing.verdict, missing.source, missing.detail, missing.observed) == (
        Verdict.UNKNOWN, source, "FACT_MISSING", None)
    down = judge(criterion, fact(name, None, source, None, error="SOURCE_TIMEOUT"))
    assert (down.verdict, down.source, down.detail) == (Verdict.UNKNOWN, source, "SOURCE_TIMEOUT")
    assert down.limit == criterion.limit  # the notice can still say which limit applies
    for value in GARBAGE[name]:
        result = judge(criterion, fact(name, value, source))
        expected = "FACT_MISSING" if value is None else "INVALID_DATA"
        assert (result.verdict, result.detail, result.observed) == (Verdict.UNKNOWN, expected, None), value


# --- texts --------------------------------------------------------------------------------------------


def texts(criterion, *facts, registrant=None):
    return criterion.messages(judge(criterion, *facts, registrant=registrant))


def test_the_domain_example_reads_as_written():
    said = texts(ElectricityAboveLimit(1300), fact("electricity_va", 2200, "PLN", AUG1))
    assert said["id"] == ("Daya listrik rumah tercatat 2.200 VA, di atas batas 1.300 VA "
                          "(sumber: PLN, per 1 Agustus 2025)")
    assert said["en"] == ("Household electricity recorded at 2,200 VA, above the limit of 1,300 VA "
                          "(source: PLN, as of 1 August 2025)")


def test_catalogue_texts_are_used_where_they_suffice():
    for criterion, value, source in [(IncomeAboveLimit(2_810_139), 3_650_000, "BPJS Ketenagakerjaan"),
                                     (WelfareDecileAboveLimit("PKH", 4), 7, "DTSEN")]:
        result = judge(criterion, fact(criterion.fact, value, source, AUG1))
        assert criterion.messages(result) == {lang: reason_message(
            result.code, "FAIL", result.observed, result.limit, source, AUG1, lang) for lang in ("id", "en")}
    said = texts(IncomeAboveLimit(2_810_139), fact("monthly_income", 3_650_000, "BPJS Ketenagakerjaan", AUG1))
    assert said["id"] == ("Penghasilan bulanan tercatat Rp3.650.000, di atas batas Rp2.810.139 "
                          "(sumber: BPJS Ketenagakerjaan, per 1 Agustus 2025)")


def test_texts_name_the_flags_the_employment_the_village_and_the_other_pilot():
    assert texts(StateEmployee(), fact("state_employment", ["POLRI", "BUMN"], "BKN", AUG1)) == {
        "id": "Anggota keluarga tercatat sebagai pegawai BUMN dan anggota Polri (sumber: BKN, per 1 Agustus 2025)",
        "en": "A household member is recorded as an employee of a state-owned enterprise (BUMN) and a police "
              "officer (Polri) (source: BKN, as of 1 August 2025)"}
    assert texts(UnusualTransactions(), fact("bank_flags", ["JUDI_ONLINE"], "PPATK", AUG1))["id"] == (
        "Rekening anggota keluarga ditandai: terkait judi online (sumber: PPATK, per 1 Agustus 2025)")
    assert texts(OwnsCar(), fact("car_ownership", 2, "Korlantas Polri", None))["en"] == (
        "Household members are recorded as owning 2 cars (source: Korlantas Polri)")
    assert texts(AlreadyRegistered(), fact("platform.other_registrations", ["JMR-2025"], "Perlinsos", None))["id"] == (
        "NIK sudah terdaftar untuk program ini di uji coba lain: JMR-2025 (sumber: Perlinsos)")
    outside = texts(OutsidePilotRegion(("35.10.16",)), registrant=ref(region_code="35.10.15.2004"))
    assert outside["id"] == "Domisili Desa Kemiren (35.10.15.2004) di luar wilayah uji coba (sumber: Dukcapil)"


def test_unknown_texts_say_what_is_missing_and_why():
    said = texts(ElectricityAboveLimit(1300), fact("electricity_va", None, "PLN", None, error="SOURCE_TIMEOUT"))
    assert said == {
        "id": "Data daya listrik belum dapat diperiksa: sumber data sedang tidak dapat dihubungi; keputusan ditunda "
              "dan akan diperiksa ulang (sumber: PLN)",
        "en": "Electricity records could not be checked: the data source could not be reached; the decision is "
              "pending and will be checked again (source: PLN)"}
    said = texts(UnusualTransactions(), fact("bank_flags", None, "PPATK", None, error="SCOPE_NOT_GRANTED"))
    assert "persetujuan akses data tidak mencakup data ini" in said["id"]
    assert "no consent" in texts(OwnsCar(), fact("car_ownership", None, "Korlantas Polri", None,
                                                 error="NO_CONSENT"))["en"]
    new_error = fact("monthly_income", None, error="SOMETHING_NEW")
    assert "data belum tersedia" in texts(IncomeAboveLimit(1), new_error)["id"]


@pytest.mark.parametrize(("criterion", "name", "source"), FACT_CRITERIA, ids=[c.code for c, _, _ in FACT_CRITERIA])
def test_every_result_has_both_texts(criterion, name, source):
    values = {"monthly_income": [0, 9_000_000], "electricity_va": [900, 2200], "welfare_decile": [1, 9],
              "state_employment": [[], ["ASN", "TNI"]], "bank_flags": [[], ["JUDI_ONLINE", "TRANSAKSI_TIDAK_WAJAR"]],
              "car_ownership": [0, 1], "platform.nik_valid": [True, False],
              "platform.other_registrations": [[], ["A-1", "B-2"]]}[name]
    seen = set()
    for value in [*values, None]:
        result = judge(criterion, fact(name, value, source, AUG1, error=None if value is not None else "INVALID_DATA"))
        said = criterion.messages(result)
        assert set(said) == {"id", "en"} and all(said.values()) and said["id"] != said["en"]
        assert source in said["id"] and "_" not in said["id"].split(" (sumber")[0], said
        seen.add(result.verdict)
    assert seen == {Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN}
