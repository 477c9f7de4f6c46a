"""examples/perlinsos-banyuwangi-lahan: a region's own criterion as its own distribution. Installed
with pip, it applies in the pilot that enables it and not in another pilot of the same deployment."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from perlinsos.registration import consent
from perlinsos.contract import ConsentGrant, Fact, PilotContext, RegistrantRef, Verdict
from perlinsos.pilots.files import PilotFileError, parse_pilot
from perlinsos.plugins import PluginManager

from fixtures import static_auth
from perlinsos.selection import evaluate as ev

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "perlinsos-banyuwangi-lahan"
sys.path.insert(0, str(EXAMPLE))  # the in-process tests import the package from its source
lahan = importlib.import_module("perlinsos_banyuwangi_lahan")

NAME = "banyuwangi_lahan"
SOURCE = "ATR/BPN Kab. Banyuwangi"
JULY = date(2025, 7, 1)
SCOPES = consent.SCOPES  # every scope: person and all facts
FAIL_ID = ("Luas tanah keluarga tercatat 7.500 m², di atas batas 5.000 m² "
           "(sumber: ATR/BPN Kab. Banyuwangi, per 1 Juli 2025)")
FAIL_EN = ("Household land recorded at 7,500 m², above the limit of 5,000 m² "
           "(source: ATR/BPN Kab. Banyuwangi, as of 1 July 2025)")


# --- in process: the criterion, its data source and its settings ------------------------------


def ref(i: int, kk: str, scopes=SCOPES) -> RegistrantRef:
    given = datetime(2025, 8, 1, tzinfo=UTC)
    grant = ConsentGrant("3510150103800001", tuple(scopes), "bansos-selection", "2025-08", given)
    return RegistrantRef(i, "3510150103800001", kk, "35.10.15.2004", "PKH", consent=grant if scopes else None)


def pilot(**settings) -> PilotContext:
    """A Banyuwangi pilot enabling the plugin with ``settings``."""
    return PilotContext(None, "BWI-2025", "BWI", ("35.10",), ("PKH",), {NAME: lahan.LahanSettings(**settings)})


def land(value, error=None) -> dict[str, Fact]:
    return {"land_area_m2": Fact(1, "land_area_m2", value, SOURCE, None if error else JULY, error=error)}


@pytest.mark.parametrize(("area", "limit", "verdict"), [
    (0, 5000, Verdict.PASS), (4999, 5000, Verdict.PASS), (5000, 5000, Verdict.PASS), (5001, 5000, Verdict.FAIL),
    (1200, 1000, Verdict.FAIL), (1000, 1000, Verdict.PASS),
])
def test_the_limit_itself_is_allowed_and_one_m2_more_is_not(area, limit, verdict):
    result = lahan.LandAboveLimit(limit).evaluate(land(area), ref(1, "x"))
    assert (result.code, result.verdict, result.observed, result.limit, result.source, result.as_of) == (
        "LAND_ABOVE_LIMIT", verdict, area, limit, SOURCE, JULY)


def test_texts_in_both_languages():
    criterion = lahan.LandAboveLimit()
    assert criterion.messages(criterion.evaluate(land(7500), None)) == {"id": FAIL_ID, "en": FAIL_EN}
    passed = criterion.messages(criterion.evaluate(land(1200), None))
    assert passed["id"].startswith("Luas tanah keluarga tercatat 1.200 m², tidak melebihi batas 5.000 m²")
    unknown = criterion.messages(criterion.evaluate(land(None, "EXTRACT_UNAVAILABLE"), None))
    assert "belum tersedia" in unknown["id"] and "pending" in unknown["en"]


def test_the_bundled_extract_sums_plots_and_absent_kks_own_nothing():
    facts = lahan.land_facts([ref(1, "3510150101000002"), ref(2, "3510150101000099"), ref(3, "3510150101000001", ()),
                              ref(4, "3510150101000004", ("person",))])
    assert [(f.registration_id, f.value, f.source, f.as_of, f.error) for f in facts] == [
        (1, 7500, SOURCE, JULY, None),  # 6,000 m² of fields and 1,500 m² of building plots
        (2, 0, SOURCE, JULY, None),  # not in the extract: no land, as of the extract's date
        (3, None, SOURCE, None, "NO_CONSENT"),
        (4, None, SOURCE, None, "NO_CONSENT"),  # consent without facts:welfare
    ]


def test_extract_path_reads_another_csv(tmp_path):
    csv = tmp_path / "lahan.csv"
    csv.write_text("no_kk,luas_m2,jenis,per_tanggal\n3510150101000007,9000,pertanian,2025-08-15\n"
                   "3510150101000008,10,bangunan,2025-06-30\n", encoding="utf-8")
    facts = lahan.land_facts([ref(1, "3510150101000007"), ref(2, "3510150101000002")], str(csv))
    assert [(f.value, f.as_of) for f in facts] == [(9000, date(2025, 8, 15)), (0, date(2025, 8, 15))]


@pytest.mark.parametrize("content", [None, "kk,luas\n1,2\n", "no_kk,luas_m2,jenis,per_tanggal\n1,banyak,x,2025-07-01\n",
                                     "no_kk,luas_m2,jenis,per_tanggal\n1,100,x,kemarin\n",
                                     "no_kk,luas_m2,jenis,per_tanggal\n"])
async def test_a_missing_or_broken_extract_leaves_people_pending_never_rejected(tmp_path, content):
    path = tmp_path / "lahan.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    pm = PluginManager(extra_plugins=[(NAME, lahan)], load_entry_points=False)
    hooks = pm.for_pilot(pilot(extract_path=str(path)))
    registrant = ref(1, "3510150101000002")
    facts = {f.name: f for f in await hooks.merged("collect_facts", registrants=[registrant])}
    assert facts["land_area_m2"].value is None and facts["land_area_m2"].error == "EXTRACT_UNAVAILABLE"
    facts["platform.consent_live"] = Fact(1, "platform.consent_live", True, "Perlinsos", JULY)
    result = ev.evaluate(await ev.criteria_for(hooks, "PKH"), facts, registrant)
    assert result.outcome == "PENDING"
    land_result = next(r for r in result.results if r.code == "LAND_ABOVE_LIMIT")
    assert (land_result.verdict, land_result.detail) == (Verdict.UNKNOWN, "EXTRACT_UNAVAILABLE")


async def test_only_a_pilot_that_enables_it_gets_the_criterion_and_its_settings():
    pm = PluginManager(extra_plugins=[(NAME, lahan)], load_entry_points=False)
    enabled = pm.for_pilot(pilot(land_limit_m2=7500))
    other = pm.for_pilot(PilotContext(None, "BWI-KONTROL", "K", ("35.10.16",), ("PKH",), {}))
    assert [c.limit_m2 for c in await enabled.merged("eligibility_criteria", programme="PKH")] == [7500]
    assert await other.merged("eligibility_criteria", programme="PKH") == []
    assert await other.merged("collect_facts", registrants=[ref(1, "3510150101000002")]) == []


def test_settings_are_validated_with_the_setting_named():
    pm = PluginManager(extra_plugins=[(NAME, lahan), (static_auth.NAME, static_auth)], load_entry_points=False,
                       national=static_auth.NATIONAL)
    data = {"code": "BWI-2025", "name": "Uji coba Banyuwangi", "regions": ["35.10"], "programmes": ["PKH"],
            "phases": {"registration_opens": "2025-08-01T00:00:00+07:00",
                       "registration_closes": "2026-08-01T00:00:00+07:00"},
            "plugins": {NAME: {"land_limit_m2": 7500, "extract_path": "/srv/lahan.csv"}, static_auth.NAME: {}}}
    parse_pilot(data, pm)
    assert pm.validate_settings(NAME, {}) == lahan.LahanSettings(land_limit_m2=5000, extract_path=None)
    data["plugins"][NAME] = {"land_limit_m2": "luas", "extract_pth": "x.csv"}
    with pytest.raises(PilotFileError) as refused:
        parse_pilot(data, pm)
    assert refused.value.problems[0][0] == "plugins.banyuwangi_lahan.land_limit_m2"
    assert "valid integer" in refused.value.problems[0][1]
    assert refused.value.problems[1] == ("plugins.banyuwangi_lahan.extract_pth", "unknown setting")
    data["plugins"][NAME] = {"land_limit_m2": 0}
    with pytest.raises(PilotFileError, match="plugins.banyuwangi_lahan.land_limit_m2: Input should be greater"):
        parse_pilot(data, pm)


# --- installed with pip: two pilots side by side in one deployment -----------------------------

SCRIPT = """
import asyncio, json, sys, tomllib
from sqlalchemy import select
from fixtures import fixture_criteria as fc, seed
from perlinsos.db import migrate
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, DecisionReason, Household, Pilot, Registration
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.selection import run_selection

URL, SCOPES = sys.argv[1], tuple(sys.argv[2].split(","))
# code: (pilot region, village, first seed index, plugins besides the fixture source of electricity)
PILOTS = {"BWI-2025": ("35.10.15", seed.KEMIREN, 0, {"banyuwangi_lahan": {}}),
          "BWI-KONTROL": ("35.10.16", seed.LATENG, 10, {})}


async def main():
    db = Database(URL)
    pm = PluginManager(extra_plugins=["fixtures.fixture_criteria"])
    base = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    for code, (region, village, start, plugins) in PILOTS.items():
        data = {**base, "code": code, "name": f"Uji coba {code}", "regions": [region],
                "plugins": {**plugins, "ikd": base["plugins"]["ikd"], "fixtures.fixture_criteria": {}}}
        async with db.write() as s:
            await save_pilot(s, parse_pilot(data, pm))
        await seed.registrations(db, code, 5, region=village, start=start, with_decision=False)
        for i in range(start, start + 5):
            nik = seed.nik(i, region.replace(".", ""))
            fc.FACTS[nik] = 900
            await seed.consent(db, nik, SCOPES)
    for code in PILOTS:
        async with db.read() as s:
            row = await get_pilot(s, code)
        await run_selection(db, pm.for_pilot(pilot_context(row, pm)))
    out = {code: {} for code in PILOTS}
    async with db.read() as s:
        rows = await s.execute(
            select(Pilot.code, Household.kk_number, Decision.outcome, Decision.inputs, DecisionReason)
            .join(Registration, Registration.pilot_id == Pilot.id)
            .join(Household, Household.id == Registration.household_id)
            .join(Decision, (Decision.registration_id == Registration.id) & Decision.is_current)
            .join(DecisionReason, DecisionReason.decision_id == Decision.id))
        for code, kk, outcome, inputs, r in rows:
            entry = out[code].setdefault(kk, {"outcome": outcome.value, "facts": sorted(inputs["facts"]),
                                              "reasons": {}})
            entry["reasons"][r.code] = {"verdict": r.verdict.value, "observed": r.observed, "limit": r.limit,
                                        "source": r.source, "as_of": r.as_of, "messages": r.messages}
    await db.dispose()
    print(json.dumps(out, default=str))


migrate.upgrade(URL)
asyncio.run(main())
"""


def _run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(work directory, environment) after ``pip install --target`` of the example."""
    base = tmp_path_factory.mktemp("example_region")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERLINSOS_")}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_INDEX": "1"}
    if _run([sys.executable, "-m", "pip", "--version"], env=env, cwd=base, timeout=60).returncode != 0:
        pytest.skip("pip is not available in this interpreter")
    source = base / "src"  # build from a copy: no build/ or *.egg-info in the repository
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "site"
    done = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                 "--target", str(target), str(source)], env=env, cwd=base, timeout=300)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    assert (target / "perlinsos_banyuwangi_lahan" / "data" / "ekstrak_lahan.csv").is_file()
    env["PYTHONPATH"] = os.pathsep.join([str(target), str(ROOT / "tests")])
    env["PERLINSOS_DATABASE_URL"] = f"sqlite+aiosqlite:///{base / 'perlinsos.db'}"
    return base, env


@pytest.fixture(scope="module")
def selected(installed) -> dict:
    base, env = installed
    done = _run([sys.executable, "-c", SCRIPT, env["PERLINSOS_DATABASE_URL"], ",".join(SCOPES)], env=env, cwd=base)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_criterion_applies_only_in_the_pilot_that_enables_it(selected):
    bwi, kontrol = selected["BWI-2025"], selected["BWI-KONTROL"]
    assert len(bwi) == len(kontrol) == 5
    land = {kk: d["reasons"]["LAND_ABOVE_LIMIT"] for kk, d in bwi.items()}
    assert {kk: (r["verdict"], r["observed"]["value"]) for kk, r in land.items()} == {
        "3510150101000000": ("PASS", 0), "3510150101000001": ("PASS", 1200), "3510150101000002": ("FAIL", 7500),
        "3510150101000003": ("PASS", 0), "3510150101000004": ("PASS", 5000)}
    fail = land["3510150101000002"]
    assert (fail["limit"], fail["source"], fail["as_of"]) == ({"value": 5000}, SOURCE, "2025-07-01")
    assert fail["messages"] == {"id": FAIL_ID, "en": FAIL_EN}
    assert {kk: d["outcome"] for kk, d in bwi.items() if d["outcome"] != "ELIGIBLE"} == {
        "3510150101000002": "NOT_ELIGIBLE"}
    assert all("land_area_m2" in d["facts"] for d in bwi.values())
    # The control pilot: the same installed plugin, not enabled — not asked for facts, no reason.
    # 3510160101000012 has 9,000 m² in the extract and is still eligible there.
    assert "3510160101000012" in kontrol
    for d in kontrol.values():
        assert set(d["reasons"]) == {"CONSENT_MISSING", "ELECTRICITY_ABOVE_LIMIT"}
        assert "land_area_m2" not in d["facts"] and d["outcome"] == "ELIGIBLE"


def test_perlinsos_plugins_lists_it_with_its_hooks_and_pilot(installed, selected):
    base, env = installed
    done = _run([sys.executable, "-m", "perlinsos.cli", "plugins"], env=env, cwd=base, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = lines.index("banyuwangi_lahan  [perlinsos-banyuwangi-lahan 0.1.0]")
    assert lines[at + 1:at + 3] == ["  hooks:  collect_facts, eligibility_criteria, plugin_settings_schema",
                                    "  pilots: BWI-2025"]
