"""perlinsos.testing, the kit for out-of-tree plugins: an out-of-tree project (its own plugin,
conftest and tests, in a temporary directory) run by pytest in a subprocess with nothing but the
installed kit; and the kit's fixtures used here directly (this suite loads the kit too)."""

from __future__ import annotations

import httpx
import pytest

from perlinsos.testing import DEFAULT_PILOT_TOML, GraphQLClient, fake_http_source, pilot_from_toml, plugin_manager
from perlinsos.testing import database, signin

pytest_plugins = ["pytester"]

PLUGIN = '''
"""A regency's plugin: land facts from its own HTTP service, and a criterion on them."""
from pydantic import BaseModel, ConfigDict, Field
import httpx
from perlinsos import hookimpl
from perlinsos.contract import CriterionResult, Fact, Verdict

NAME = "kabupaten_uji"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_url: str
    land_limit_m2: int = Field(default=5000, gt=0)


class LandAboveLimit:
    code, version = "LAND_ABOVE_LIMIT", "1"

    def __init__(self, limit):
        self.limit = limit

    def evaluate(self, facts, registrant):
        fact = facts.get("land_area_m2")
        if fact is None or fact.value is None:
            return CriterionResult(self.code, Verdict.UNKNOWN, limit=self.limit)
        verdict = Verdict.FAIL if fact.value > self.limit else Verdict.PASS
        return CriterionResult(self.code, verdict, fact.value, self.limit, fact.source, fact.as_of)


@hookimpl
def plugin_settings_schema():
    return Settings


@hookimpl
def eligibility_criteria(programme, pilot):
    return [LandAboveLimit(pilot.settings_for(NAME).land_limit_m2)]


@hookimpl
async def collect_facts(registrants, pilot):
    url = pilot.settings_for(NAME).service_url
    async with httpx.AsyncClient() as http:
        answer = (await http.post(f"{url}/lahan", json={"kk": [r.kk_number for r in registrants]})).json()
    return [Fact(r.registration_id, "land_area_m2", answer.get(r.kk_number, 0), "BPN Uji") for r in registrants]
'''

CONFTEST = '''
import pytest
import kabupaten_uji
from perlinsos.testing import DEFAULT_PILOT_TOML


@pytest.fixture
def perlinsos_plugins():
    return [(kabupaten_uji.NAME, kabupaten_uji)]


@pytest.fixture
def land_service(perlinsos_fake_http_source):
    return perlinsos_fake_http_source({"POST /lahan": lambda body: {"3510150101000002": 7500}})


@pytest.fixture
def perlinsos_pilot_toml(land_service):
    return DEFAULT_PILOT_TOML + f"""
[plugins.kabupaten_uji]
service_url = "{land_service.url}"
land_limit_m2 = 6000
"""
'''

TESTS = '''
import pytest
import kabupaten_uji
from perlinsos.contract import RegistrantRef, Verdict
from perlinsos.pilots.files import PilotFileError
from perlinsos.testing import DEFAULT_PILOT_TOML, pilot_from_toml

VIEWER = "{ viewer { subject kind roles } }"


@pytest.mark.asyncio
async def test_settings_are_the_model_and_facts_come_from_the_service(perlinsos_pilot, perlinsos_plugin_manager,
                                                                      land_service):
    settings = perlinsos_pilot.settings_for("kabupaten_uji")
    assert isinstance(settings, kabupaten_uji.Settings) and settings.land_limit_m2 == 6000
    hooks = perlinsos_plugin_manager.for_pilot(perlinsos_pilot)
    ref = RegistrantRef(1, "3510151203800001", "3510150101000002", "35.10.15.2004", "PKH")
    facts = await hooks.merged("collect_facts", registrants=[ref])
    assert [(f.name, f.value) for f in facts if f.name == "land_area_m2"] == [("land_area_m2", 7500)]
    assert land_service.requests[0].json == {"kk": ["3510150101000002"]}
    [criterion] = [c for c in await hooks.merged("eligibility_criteria", programme="PKH")
                   if c.code == "LAND_ABOVE_LIMIT"]
    assert criterion.evaluate({f.name: f for f in facts}, ref).verdict is Verdict.FAIL


def test_a_bad_setting_is_refused_as_pilot_load_refuses_it(perlinsos_plugin_manager):
    with pytest.raises(PilotFileError, match="plugins.kabupaten_uji.service_url: required setting is missing"):
        pilot_from_toml(DEFAULT_PILOT_TOML + "[plugins.kabupaten_uji]\\n", perlinsos_plugin_manager)


@pytest.mark.asyncio
async def test_every_role_signs_in(perlinsos_client):
    anonymous = await perlinsos_client.data(VIEWER)
    assert anonymous["viewer"]["kind"] == "anonymous"
    citizen = await perlinsos_client.as_citizen("3510151203800001").data(VIEWER)
    assert citizen["viewer"]["kind"] == "citizen"
    facilitator = await (await perlinsos_client.as_facilitator("pendamping-1", ("35.10.15.2004",))).data(VIEWER)
    reviewer = await (await perlinsos_client.as_reviewer("peninjau-1", ("35.10.15",))).data(VIEWER)
    admin = await (await perlinsos_client.as_admin("pusat-1")).data(VIEWER)
    assert [facilitator["viewer"]["roles"], reviewer["viewer"]["roles"], admin["viewer"]["roles"]] == [
        ["FACILITATOR"], ["REVIEWER"], ["ADMIN"]]
'''


def test_an_out_of_tree_project_tests_its_plugin_with_the_kit(pytester):
    """Strict asyncio mode, no conftest of ours, a fresh interpreter: only the installed entry point."""
    pytester.makepyfile(kabupaten_uji=PLUGIN, conftest=CONFTEST, test_kabupaten_uji=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"perlinsos.testing: {database.describe()}"])  # SQLite or PostgreSQL, as here


def test_the_example_distribution_tests_itself_with_the_kit(pytester):
    """examples/perlinsos-banyuwangi-lahan/tests, run as its own project (its own rootdir and an
    empty configuration: strict asyncio mode), with the plugin from its source."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "perlinsos-banyuwangi-lahan"
    ini = pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(example),
                                           str(example / "tests"), timeout=240)
    result.assert_outcomes(passed=4)


def test_the_guide_runs_as_written(pytester):
    """docs/testing-plugins.md: its files (blocks opening with ``# file: <name>``), run as a project."""
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "testing-plugins.md").read_text(encoding="utf-8")
    files = dict(re.findall(r"```python\n# file: (\S+)\n(.*?)```", guide, flags=re.S))
    assert set(files) == {"perlinsos_contoh.py", "conftest.py", "test_contoh.py"}
    for name, code in files.items():
        pytester.path.joinpath(name).write_text(code, encoding="utf-8")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=len(re.findall(r"^(?:async )?def test_", files["test_contoh.py"], flags=re.M)))


# --- the kit's fixtures and helpers, used directly -------------------------------------------------


def test_the_plugin_is_taken_once_whether_installed_or_not():
    import perlinsos_criteria

    pm = plugin_manager([("criteria", perlinsos_criteria)])  # installed too: from its entry point
    assert pm.names().count("criteria") == 1 and signin.NAME in pm.names()
    alone = plugin_manager([("criteria", perlinsos_criteria)], entry_points=False, sign_in=False)
    assert "criteria" in alone.names() and "ikd" not in alone.names() and signin.NAME not in alone.names()


def test_pilot_from_toml_gives_models_and_dicts_only_without_a_schema():
    pm = plugin_manager()
    pilot = pilot_from_toml(DEFAULT_PILOT_TOML + "[plugins.appeals]\nreview_sla_days = 7\n"
                            f"[plugins.{signin.NAME}]\n", pm)
    assert pilot.settings_for("appeals").review_sla_days == 7 and pilot.id is None
    assert pilot.settings_for(signin.NAME) == {}


async def test_a_pilot_the_platform_refuses_is_refused_by_the_fixture_too(perlinsos_db, perlinsos_plugin_manager):
    from perlinsos.pilots.rollout import RolloutRefused
    from perlinsos.testing import store_pilot

    await store_pilot(perlinsos_db, DEFAULT_PILOT_TOML, perlinsos_plugin_manager)
    other = DEFAULT_PILOT_TOML.replace('code = "BWI-2025"', 'code = "BWI-LAIN"')
    with pytest.raises(RolloutRefused):
        await store_pilot(perlinsos_db, other, perlinsos_plugin_manager)  # the same regions, overlapping


async def test_a_reviewer_outside_the_pilot_is_refused(perlinsos_client):
    from perlinsos.errors import Problem

    with pytest.raises(Problem):
        await perlinsos_client.as_reviewer("peninjau-jember", ("35.09",))


def test_a_client_without_a_database_says_so():
    client = GraphQLClient(httpx.AsyncClient(base_url="http://x"))
    with pytest.raises(RuntimeError, match="perlinsos_client fixture"):
        import asyncio

        asyncio.run(client.as_admin())


def test_a_fake_source_with_one_handler_records_every_request():
    from starlette.responses import PlainTextResponse

    with fake_http_source(handler=lambda request: PlainTextResponse("nope", status_code=503)) as source:
        answer = httpx.post(f"{source.url}/anything?x=1", json={"a": 1}, headers={"X-Key": "k"})
    assert (answer.status_code, answer.text) == (503, "nope")
    [seen] = source.requests
    assert (seen.method, seen.path, seen.query, seen.headers["x-key"], seen.json) == (
        "POST", "/anything", {"x": "1"}, "k", {"a": 1})


def test_the_simulators_run_on_free_ports(perlinsos_ikd, perlinsos_sms):
    person = perlinsos_ikd.people(limit=1, role="HEAD")[0]
    assert perlinsos_ikd.sign_in(person["nik"]).count(".") == 2
    assert perlinsos_ikd.settings().issuer == perlinsos_ikd.issuer
    assert perlinsos_sms.post(to="+6281234567890", idempotency_key="k-1").status_code in (200, 201, 202)
    assert len(perlinsos_sms.messages(to="+6281234567890")) == 1
