"""Synthetic households of the IKD simulator: members, phones, facts and deliberate data errors.

Everything here is invented. Names are random pairs of common Indonesian given names and describe
no real person; NIKs and KK numbers are valid in form only; incomes, bank flags and electricity
records are drawn from distributions chosen to exercise every eligibility reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

HEAD, SPOUSE, CHILD, PARENT = "HEAD", "SPOUSE", "CHILD", "PARENT"
ROLES = (HEAD, SPOUSE, CHILD, PARENT)  # position = code stored in the population's role array

#: fact name → (consent scope, source, days before the snapshot the source's data is from)
FACT_SOURCES: dict[str, tuple[str, str, int]] = {
    "monthly_income": ("facts:income", "BPJS Ketenagakerjaan", 1),
    "bank_flags": ("facts:bank", "PPATK", 17),
    "electricity_va": ("facts:electricity", "PLN", 0),
    "welfare_decile": ("facts:welfare", "DTSEN", 32),
    "state_employment": ("facts:employment", "BKN", 31),
    "car_ownership": ("facts:vehicles", "Korlantas Polri", 32),
}
SCOPES: tuple[str, ...] = ("person", *(scope for scope, _, _ in FACT_SOURCES.values()))

#: PKH limits of the Banyuwangi pilot (DOMAIN.md): UMK 2025, PLN class, DTSEN decile. The expected
#: reasons the simulator lists use them for people of every regency.
PKH_LIMITS = {"income": 2_810_139, "electricity_va": 1300, "decile": 4}
REASONS = ("INCOME_ABOVE_LIMIT", "ELECTRICITY_ABOVE_LIMIT", "WELFARE_DECILE_ABOVE_LIMIT",
           "STATE_EMPLOYEE", "UNUSUAL_TRANSACTIONS", "OWNS_CAR")
ERROR_KINDS = ("NIK_MISUSE", "ELECTRICITY_MISRECORDED")


@dataclass(frozen=True, slots=True)
class Member:
    nik: str
    name: str
    birth_date: date
    sex: str  # "M" | "F", as the NIK encodes it
    relationship: str  # HEAD | SPOUSE | CHILD | PARENT
    phone: str | None = None  # E.164
    phone_invalid: bool = False  # deliberately unusable number, for SMS failure tests

    def age(self, on: date) -> int:
        return on.year - self.birth_date.year - ((on.month, on.day) < (self.birth_date.month, self.birth_date.day))


@dataclass(frozen=True, slots=True)
class FactRecord:
    """One source's record about a household; ``members`` holds each member's part (NIK → value)."""

    name: str
    scope: str
    source: str
    as_of: date
    value: Any
    members: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DataError:
    """Wrong data attached to a household, of the kind appeals (sanggah) exist for."""

    kind: str  # NIK_MISUSE (someone else's income/transactions on this NIK) | ELECTRICITY_MISRECORDED
    fact: str
    nik: str | None
    recorded: Any
    actual: Any
    note: str


@dataclass(frozen=True)
class Household:
    index: int
    kk_number: str
    region_code: str  # village, e.g. 35.10.15.2004
    village: str
    district: str
    address: str
    members: tuple[Member, ...]
    facts: tuple[FactRecord, ...]
    data_errors: tuple[DataError, ...] = ()
    ground_truth: Mapping[str, Any] = field(default_factory=dict)  # fact → value without the errors

    @property
    def head(self) -> Member:
        return self.members[0]

    def member(self, nik: str) -> Member | None:
        return next((m for m in self.members if m.nik == nik), None)

    def fact(self, name: str) -> FactRecord:
        return next(f for f in self.facts if f.name == name)

    def pkh_reasons(self, limits: Mapping[str, int] = PKH_LIMITS, *, corrected: bool = False) -> tuple[str, ...]:
        """Reason codes PKH would fail on, from the recorded facts (or with the data errors fixed)."""

        def value(name: str) -> Any:
            if corrected and name in self.ground_truth:
                return self.ground_truth[name]
            return self.fact(name).value

        failing = {
            "INCOME_ABOVE_LIMIT": value("monthly_income") > limits["income"],
            "ELECTRICITY_ABOVE_LIMIT": value("electricity_va") > limits["electricity_va"],
            "WELFARE_DECILE_ABOVE_LIMIT": value("welfare_decile") > limits["decile"],
            "STATE_EMPLOYEE": bool(value("state_employment")),
            "UNUSUAL_TRANSACTIONS": bool(value("bank_flags")),
            "OWNS_CAR": value("car_ownership") > 0,
        }
        return tuple(code for code in REASONS if failing[code])


# --- names, addresses, phones (synthetic) -------------------------------------------------------

# Common given names in East Java, combined at random: the pairs are invented, not real people.
MALE = ("Agus", "Budi", "Slamet", "Joko", "Heru", "Eko", "Wahyu", "Hadi", "Sugeng", "Bambang", "Teguh",
        "Imam", "Ahmad", "Muhammad", "Rizky", "Dimas", "Fajar", "Bayu", "Arif", "Yusuf", "Hendra",
        "Suparman", "Sutrisno", "Purnomo", "Hariyanto", "Santoso", "Setiawan", "Prasetyo", "Wibowo",
        "Nugroho", "Kurniawan", "Hidayat", "Saputra", "Firmansyah", "Ramadhan")
FEMALE = ("Siti", "Sri", "Dewi", "Wulan", "Nur", "Ratna", "Endang", "Lestari", "Rina", "Yuli", "Ayu",
          "Putri", "Indah", "Fitri", "Aminah", "Sulastri", "Kartini", "Umi", "Rahayu", "Anisa", "Susanti",
          "Wahyuni", "Handayani", "Purwanti", "Maryam", "Khotimah", "Fatimah", "Astuti", "Safitri",
          "Kusuma", "Novita", "Rohmah", "Lailatul", "Mutmainah", "Zahra")
DUSUN = ("Krajan", "Sumberejo", "Karanganyar", "Sidomulyo", "Tegalrejo", "Kedungrejo", "Sukorejo",
         "Wonosari", "Purwodadi", "Kampung Baru", "Cungking", "Sawahan", "Rejoagung", "Gumuk")
# Allocated mobile prefixes (Telkomsel, Indosat, XL, Tri, Smartfren), without the trunk 0.
MOBILE_PREFIXES = ("811", "812", "813", "821", "822", "823", "852", "853", "814", "815", "816", "855",
                   "856", "857", "858", "817", "818", "819", "859", "877", "878", "895", "896", "897",
                   "898", "899", "881", "882", "883", "887", "888")
# Unusable numbers: a Banyuwangi landline (0333), too short, a non-mobile 0800 range.
INVALID_PHONES = ("+62333{:06d}", "+62812{:04d}", "+62800{:07d}")


def _name(rng: random.Random, sex: str) -> str:
    pool = MALE if sex == "M" else FEMALE
    first, second = rng.sample(pool, 2)
    return f"{first} {second}"


def _phone(rng: random.Random, force_invalid: bool = False) -> tuple[str, bool]:
    if force_invalid or rng.random() < 0.025:
        return rng.choice(INVALID_PHONES).format(rng.randrange(10_000)), True
    return f"+62{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}", False


_PHONE_P = {HEAD: 0.9, SPOUSE: 0.8, CHILD: 0.85, PARENT: 0.4}


def make_members(rng: random.Random, people: Sequence[tuple[str, date, str, str]], as_of: date,
                 invalid_phone: bool = False) -> tuple[Member, ...]:
    """Members from (nik, birth date, sex, relationship), with names and (for adults) phones."""
    members = []
    for i, (nik, born, sex, role) in enumerate(people):
        name = _name(rng, sex)
        phone, bad = None, False
        age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
        if age >= 17 and (rng.random() < _PHONE_P[role] or (i == 0 and invalid_phone)):
            phone, bad = _phone(rng, force_invalid=i == 0 and invalid_phone)
        members.append(Member(nik, name, born, sex, role, phone, bad))
    return tuple(members)


def address(rng: random.Random, village: str, district: str, kind: str | None,
            regency: str = "Kab. Banyuwangi") -> str:
    place = "Kel." if kind == "kelurahan" else "Desa"
    return (f"Dusun {rng.choice(DUSUN)} RT {rng.randint(1, 8):03d} RW {rng.randint(1, 4):03d}, "
            f"{place} {village}, Kec. {district}, {regency}")


# --- facts ---------------------------------------------------------------------------------------

DECILE_WEIGHTS = (12, 12, 11, 11, 10, 10, 9, 9, 8, 8)  # the regency is poorer than the national mean
VA_CLASSES = (450, 900, 1300, 2200, 3500, 5500, 6600)
VA_WEIGHTS = ((35, 50, 12, 3, 0, 0, 0), (3, 30, 42, 20, 5, 0, 0), (0, 5, 20, 40, 20, 10, 5))  # per tier
FORMAL_P, STATE_P, FLAG_P, CAR_P = (0.15, 0.45, 0.75), (0.01, 0.07, 0.15), (0.015, 0.03, 0.03), (0.02, 0.15, 0.5)
STATE_KINDS, STATE_WEIGHTS = ("ASN", "TNI", "POLRI", "BUMN"), (50, 15, 15, 20)
FLAGS = ("JUDI_ONLINE", "TRANSAKSI_TIDAK_WAJAR")

# The first households show every outcome, so even a tiny population has one of each.
SHOWCASE: tuple[dict[str, Any], ...] = (
    {"decile": 2},
    {"decile": 3, "reason": "INCOME_ABOVE_LIMIT"},
    {"decile": 4, "reason": "ELECTRICITY_ABOVE_LIMIT", "invalid_phone": True},
    {"decile": 7, "reason": "WELFARE_DECILE_ABOVE_LIMIT"},
    {"decile": 4, "reason": "STATE_EMPLOYEE"},
    {"decile": 3, "reason": "UNUSUAL_TRANSACTIONS"},
    {"decile": 4, "reason": "OWNS_CAR"},
    {"decile": 2, "error": "income"},
    {"decile": 1, "error": "electricity"},
    {"decile": 3, "error": "bank"},
)


def _income(rng: random.Random, tier: int) -> int:
    low, high = ((1_200_000, 2_800_000), (2_000_000, 5_500_000), (4_000_000, 15_000_000))[tier]
    if tier == 0 and rng.random() < 0.08:  # a poor household with one formal salary above the UMK
        low, high = 2_900_000, 4_200_000
    return rng.randrange(low, high, 1000)


def make_facts(rng: random.Random, index: int, members: Sequence[Member], as_of: date):
    """(facts, data errors, ground truth) for one household."""
    show = SHOWCASE[index] if index < len(SHOWCASE) else None
    decile = show["decile"] if show else rng.choices(range(1, 11), DECILE_WEIGHTS)[0]
    tier = 0 if decile <= 4 else 1 if decile <= 7 else 2
    head = members[0]
    adults = [m for m in members if 18 <= m.age(as_of) <= 64] or [head]
    income: dict[str, int] = {}
    flags: dict[str, tuple[str, ...]] = {}
    employment: dict[str, str] = {}
    cars: dict[str, int] = {}
    if show is None:
        for m in adults:
            works = rng.random() < (0.9 if m.relationship == HEAD else 0.55)
            if works and rng.random() < STATE_P[tier]:
                employment[m.nik] = kind = rng.choices(STATE_KINDS, STATE_WEIGHTS)[0]
                if kind == "BUMN":  # BUMN staff are insured with BPJS Ketenagakerjaan, ASN/TNI/Polri are not
                    income[m.nik] = rng.randrange(4_500_000, 12_000_000, 1000)
            elif works and rng.random() < FORMAL_P[tier]:
                income[m.nik] = _income(rng, tier)
            if rng.random() < FLAG_P[tier]:
                flags[m.nik] = (rng.choice(FLAGS),)
        if rng.random() < CAR_P[tier]:
            cars[head.nik] = 2 if tier == 2 and rng.random() < 0.3 else 1
        va = rng.choices(VA_CLASSES, VA_WEIGHTS[tier])[0]
    else:  # a clean poor household, then the one reason it shows
        va = rng.choice((450, 900))
        reason = show.get("reason")
        worker = adults[-1] if reason == "STATE_EMPLOYEE" else head
        if reason == "INCOME_ABOVE_LIMIT":
            income[worker.nik] = 3_650_000
        elif reason == "ELECTRICITY_ABOVE_LIMIT":
            va = 2200
        elif reason == "STATE_EMPLOYEE":
            employment[worker.nik] = "ASN"
        elif reason == "UNUSUAL_TRANSACTIONS":
            flags[worker.nik] = ("JUDI_ONLINE",)
        elif reason == "OWNS_CAR":
            cars[worker.nik] = 1
    errors, truth = [], {}
    error = show.get("error") if show else _random_error(rng, tier)
    if error == "electricity":  # the pilot's real case: 2,200 VA on record, 900 VA supplied
        truth["electricity_va"], va = 900, 2200
        errors.append(DataError("ELECTRICITY_MISRECORDED", "electricity_va", None, 2200, 900,
                                "PLN mencatat 2.200 VA; daya terpasang sebenarnya 900 VA"))
    elif error in ("income", "bank"):
        victim = _victim(members, income, as_of)
        if error == "income":
            truth["monthly_income"] = max(income.values(), default=0)
            income[victim.nik] = amount = rng.randrange(3_200_000, 6_500_000, 1000)
            errors.append(DataError("NIK_MISUSE", "monthly_income", victim.nik, amount, None,
                                    "gaji dari pemberi kerja di Surabaya tercatat pada NIK ini (NIK dicatut)"))
        else:
            truth["bank_flags"] = sorted({f for fs in flags.values() for f in fs})
            flags[victim.nik] = ("JUDI_ONLINE",)
            errors.append(DataError("NIK_MISUSE", "bank_flags", victim.nik, ["JUDI_ONLINE"], [],
                                    "rekening atas NIK ini dibuka orang lain (NIK dicatut)"))
    values = {
        "monthly_income": (max(income.values(), default=0), income),
        "bank_flags": (sorted({f for fs in flags.values() for f in fs}), {k: list(v) for k, v in flags.items()}),
        "electricity_va": (va, {}),
        "welfare_decile": (decile, {}),
        "state_employment": (sorted(set(employment.values())), employment),
        "car_ownership": (sum(cars.values()), cars),
    }
    facts = tuple(
        FactRecord(name, scope, source, as_of - timedelta(days=days), *values[name])
        for name, (scope, source, days) in FACT_SOURCES.items()
    )
    return facts, tuple(errors), truth


def _random_error(rng: random.Random, tier: int) -> str | None:
    if tier != 0:  # errors matter (and get appealed) where they cost a poor household its aid
        return None
    roll = rng.random()
    return "income" if roll < 0.03 else "electricity" if roll < 0.06 else "bank" if roll < 0.07 else None


def _victim(members: Sequence[Member], income: Mapping[str, int], as_of: date) -> Member:
    """Whose NIK someone else used: preferably a member with no recorded income of their own."""
    candidates = [m for m in members if m.nik not in income and m.age(as_of) >= 15]
    return candidates[-1] if candidates else members[0]
