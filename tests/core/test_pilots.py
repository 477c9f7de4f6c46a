"""Pilot files: the bundled Banyuwangi pilot loads; bad files stop with one clear message
naming the field, and nothing is written."""

from __future__ import annotations

import asyncio
import tomllib

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from fixtures.pilots import pilot_data
from perlinsos.cli import main
from perlinsos.db.engine import Database
from perlinsos.db.models import Pilot
from perlinsos.pilots import store
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot


def toml_dump(data: dict) -> str:
    """Enough TOML for pilot files (tomllib only reads)."""

    def value(v):
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return str(v)

    lines, tables = [], []
    for key, v in data.items():
        if isinstance(v, dict) and key in ("phases", "plugins"):
            tables.append((key, v))
        else:
            lines.append(f"{key} = {value(v)}")
    for key, table in tables:
        if key == "plugins":
            for name, settings in table.items():
                lines.append(f"[plugins.{name}]")
                lines += [f"{k} = {value(x)}" for k, x in settings.items()]
        else:
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(x)}" for k, x in table.items()]
    return "\n".join(lines) + "\n"


def run_cli(args, database_url):
    return CliRunner().invoke(main, args, env={"PERLINSOS_DATABASE_URL": database_url}, catch_exceptions=False)


def pilot_count(database_url: str) -> int:
    """Counted outside the test's loop: the CLI runs its own (asyncio.run), so these tests are sync."""

    async def count() -> int:
        database = Database(database_url)
        try:
            async with database.read() as s:
                return (await s.execute(select(func.count(Pilot.id)))).scalar_one()
        finally:
            await database.dispose()

    return asyncio.run(count())


def test_bundled_pilot_is_valid(plugin_manager):
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    spec = parse_pilot(data, plugin_manager)
    assert spec.code == "BWI-2025" and spec.regions == ["35.10"]
    assert set(spec.plugins) == {"ikd", "criteria", "notify_sms", "appeals"}


def test_cli_loads_then_updates_the_same_pilot(database_url):
    first = run_cli(["pilot", "load", str(bundled_pilot_file())], database_url)
    assert first.exit_code == 0, first.output
    assert "BWI-2025 created" in first.output
    again = run_cli(["pilot", "load", str(bundled_pilot_file())], database_url)
    assert "BWI-2025 updated" in again.output
    assert pilot_count(database_url) == 1


async def test_stored_pilot_gives_hooks_validated_settings(db, plugin_manager, pilot):
    async with db.read() as s:
        row = await store.get_pilot(s, pilot)
    context = store.pilot_context(row, plugin_manager)
    assert context.settings_for("criteria").electricity_limit_va == 1300
    assert str(context.settings_for("ikd").issuer).startswith("http://127.0.0.1:8601")
    assert context.settings_for("not-enabled") is None


def _broken(change) -> dict:
    data = pilot_data()
    data["plugins"].pop("static_auth")
    change(data)
    return data


BAD_FILES = {
    "unknown plugin": (lambda d: d["plugins"].update(sms_blaster={}), "plugins.sms_blaster", "unknown plugin"),
    "missing field": (lambda d: d.pop("name"), "name", "required field is missing"),
    "mistyped field": (lambda d: d.update(regions="35.10"), "regions", "valid list"),
    "mistyped plugin setting": (lambda d: d["plugins"]["criteria"].update(electricity_limit_va="banyak"),
                                "plugins.criteria.electricity_limit_va", "integer"),
    "unknown plugin setting": (lambda d: d["plugins"]["ikd"].update(issuer_url="x"),
                               "plugins.ikd.issuer_url", "unknown setting"),
    "phase ends before it starts": (
        lambda d: d["phases"].update(registration_closes=d["phases"]["registration_opens"]),
        "phases", "registration_closes must be after registration_opens"),
    "unknown programme": (lambda d: d.update(programmes=["PKH", "BLT"]), "programmes", "unknown programme 'BLT'"),
    "unknown village": (lambda d: d.update(regions=["35.10.99.2001"]), "regions", "not a known region"),
    "malformed region": (lambda d: d.update(regions=["3510"]), "regions", "not a kode wilayah"),
    "unknown top-level key": (lambda d: d.update(budget=10), "budget", "unknown field"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_pilot_file_names_the_field_and_writes_nothing(case, database_url, tmp_path):
    change, field, message = BAD_FILES[case]
    path = tmp_path / "pilot.toml"
    path.write_text(toml_dump(_broken(change)), encoding="utf-8")
    result = run_cli(["pilot", "load", str(path)], database_url)
    assert result.exit_code == 1
    assert f"{field}:" in result.output and message in result.output, result.output
    assert str(path) in result.output
    assert pilot_count(database_url) == 0


def test_invalid_toml_and_missing_file(database_url, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('code = "X\n', encoding="utf-8")
    result = run_cli(["pilot", "load", str(path)], database_url)
    assert result.exit_code == 1 and "not valid TOML" in result.output
    result = run_cli(["pilot", "load", str(tmp_path / "absent.toml")], database_url)
    assert result.exit_code == 1 and "no such file" in result.output
    assert pilot_count(database_url) == 0


def test_toml_helper_round_trips_the_bundled_pilot():
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    assert tomllib.loads(toml_dump(data)) == data
