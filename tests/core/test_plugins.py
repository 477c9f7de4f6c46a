"""The plugin manager: discovery through entry points and validation at start-up, with errors
that name the plugin (pluggy's validation, made readable)."""

from __future__ import annotations

import importlib
import sys
import tomllib
from importlib import metadata

import pytest
import strawberry
from click.testing import CliRunner

from perlinsos import hookimpl, hookspecs
from perlinsos.cli import main as cli
from perlinsos.contract import PilotContext, SchemaPart
from perlinsos.errors import PluginError
from perlinsos.graphql.schema import build_schema
from perlinsos.pilots.files import PilotFileError, bundled_pilot_file, parse_pilot
from perlinsos.plugins import PluginManager, PluginSettingsError, UnknownPlugin
from perlinsos.settings import Settings

BUILTINS = {"ikd": "perlinsos_ikd", "criteria": "perlinsos_criteria", "oidc": "perlinsos_oidc",
            "notify_sms": "perlinsos_notify_sms", "appeals": "perlinsos_appeals"}


def manager(**plugins) -> PluginManager:
    return PluginManager(extra_plugins=list(plugins.items()), load_entry_points=False)


def implemented(module) -> list[str]:
    """Hooks a module marks with ``@hookimpl``, read independently of the manager."""
    order = [n for names in hookspecs.FAMILIES.values() for n in names]
    return [n for n in order if hasattr(getattr(module, n, None), "perlinsos_impl")]


# --- discovery ------------------------------------------------------------------------------------


def test_builtins_load_from_entry_points_like_any_plugin():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="perlinsos")}
    assert {name: eps.get(name) for name in BUILTINS} == BUILTINS

    pm = PluginManager()
    assert set(BUILTINS) <= set(pm.names())
    for name, module_name in BUILTINS.items():
        module = importlib.import_module(module_name)
        assert pm.get(name) is module
        assert pm.sources[name].startswith("perlinsos ")  # the distribution that declares it
        assert pm.hooks_of(name) == implemented(module) and "plugin_settings_schema" in pm.hooks_of(name)
    assert pm.hooks_of("appeals") == ["appeal_grounds", "check_appeal", "plugin_settings_schema"]


def test_hooks_of_an_unknown_plugin():
    with pytest.raises(UnknownPlugin, match="'sms_blaster'.*appeals, criteria, ikd, notify_sms, oidc"):
        PluginManager().hooks_of("sms_blaster")


def test_disabled_leaves_a_builtin_out():
    pm = PluginManager(disabled=["notify_sms"])
    assert set(pm.names()) == set(BUILTINS) - {"notify_sms"}
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    with pytest.raises(PilotFileError) as caught:
        parse_pilot(data, pm)  # the Banyuwangi pilot enables notify_sms
    assert [f for f, _ in caught.value.problems] == ["plugins.notify_sms"]


def test_disabled_plugins_from_the_environment(tmp_path):
    env = {"PERLINSOS_DISABLED_PLUGINS": "notify_sms, appeals",
           "PERLINSOS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'kosong.db'}"}
    result = CliRunner().invoke(cli, ["plugins"], env=env)
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == ["criteria", "ikd", "oidc"]


# --- validation -----------------------------------------------------------------------------------


class Typo:
    @hookimpl
    def apeal_grounds(self, pilot):
        return []


class OptionalFutureHook:
    @hookimpl(optionalhook=True)
    def citizen_deleted(self, nik, pilot):
        return None


class ExtraArgument:
    @hookimpl
    def appeal_grounds(self, pilot, language):
        return []


class FewerArguments:
    @hookimpl
    def check_appeal(self, appeal):  # pluggy allows taking fewer arguments than the spec offers
        return []


class Wrapper:
    @hookimpl(wrapper=True)
    def appeal_grounds(self, pilot):
        return (yield)


class SettingsInstance:
    @hookimpl
    def plugin_settings_schema(self):
        return {"income_limit": int}  # a dict, not a pydantic model class


class Grounds:
    @hookimpl
    def appeal_grounds(self, pilot):
        return []


def test_unknown_hook_names_plugin_and_hook():
    with pytest.raises(PluginError) as caught:
        manager(sanggah_plus=Typo())
    assert caught.value.plugin == "sanggah_plus"
    assert "'sanggah_plus'" in str(caught.value) and "'apeal_grounds'" in str(caught.value)
    # optionalhook=True is pluggy's way to implement a hook a newer platform may declare.
    assert manager(future=OptionalFutureHook()).hooks_of("future") == []


def test_argument_the_spec_lacks_names_plugin():
    with pytest.raises(PluginError) as caught:
        manager(sanggah_plus=ExtraArgument())
    assert caught.value.plugin == "sanggah_plus"
    assert "'sanggah_plus'" in str(caught.value) and "language" in str(caught.value)
    assert manager(lean=FewerArguments()).hooks_of("lean") == ["check_appeal"]


def test_hook_wrappers_are_refused():
    with pytest.raises(PluginError, match="'wrapping'.*wrappers are not supported"):
        manager(wrapping=Wrapper())


def test_settings_schema_must_be_a_model_class():
    with pytest.raises(PluginError, match="'loose'.*pydantic model class"):
        manager(loose=SettingsInstance())


def test_registered_twice_under_one_name():
    with pytest.raises(PluginError, match="'grounds'.*registered twice"):
        PluginManager(extra_plugins=[("grounds", Grounds()), ("grounds", Grounds())], load_entry_points=False)
    # An extra plugin may not take a built-in's name either.
    with pytest.raises(PluginError, match="'appeals'.*registered twice.*perlinsos 0.1.0.*extra"):
        PluginManager(extra_plugins=[("appeals", Grounds())])


def test_one_plugin_under_two_names():
    # e.g. PERLINSOS_EXTRA_PLUGINS=perlinsos_appeals beside its own entry point
    with pytest.raises(PluginError, match="'perlinsos_appeals'.*same plugin as 'appeals'"):
        PluginManager(extra_plugins=["perlinsos_appeals"])


def _install_fake_distribution(root, module_source: str | None) -> None:
    """A dist-info with an entry point ``rusak`` (broken) on sys.path, as pip would leave it."""
    info = root / "perlinsos_rusak-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: perlinsos-rusak\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[perlinsos]\nrusak = perlinsos_rusak\n")
    if module_source is not None:
        (root / "perlinsos_rusak.py").write_text(module_source)


@pytest.mark.parametrize("source, detail", [
    (None, "No module named 'perlinsos_rusak'"),
    ("raise ImportError('needs pydantic<2')\n", "needs pydantic<2"),
    ("from perlinsos import hookimpl\n@hookimpl\ndef appeal_grounds(pilot, lang): ...\n", "lang"),
], ids=["missing module", "import fails", "bad hook"])
def test_broken_entry_point_is_named(tmp_path, monkeypatch, source, detail):
    _install_fake_distribution(tmp_path, source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(PluginError) as caught:
            PluginManager()
        assert caught.value.plugin == "rusak" and detail in str(caught.value)
        # Disabling it lets the deployment start without it.
        assert "rusak" not in PluginManager(disabled=["rusak"]).names()
    finally:
        sys.modules.pop("perlinsos_rusak", None)


# --- GraphQL contributions ------------------------------------------------------------------------


@strawberry.type
class Kantor:
    name: str


def contributing(field_name: str, mutation: bool = False):
    class Contributor:
        @hookimpl
        def graphql_schema_parts(self):
            @strawberry.field
            def resolver() -> Kantor:
                return Kantor(name="Kantor Desa Kemiren")

            fields = {field_name: resolver}
            return SchemaPart(mutation_fields=fields) if mutation else SchemaPart(query_fields=fields, types=[Kantor])

    return Contributor()


@pytest.mark.parametrize("first, second", [("kantor_desa", "kantor_desa"), ("kantor_desa", "kantorDesa")])
def test_field_contributed_by_two_plugins(first, second):
    pm = manager(desa_a=contributing(first), desa_b=contributing(second))
    with pytest.raises(PluginError) as caught:
        build_schema(pm, Settings())
    message = str(caught.value)
    assert "'desa_a'" in message and "'desa_b'" in message and "'kantorDesa'" in message


def test_mutation_contributed_by_two_plugins():
    pm = manager(desa_a=contributing("tandai_hadir", mutation=True), desa_b=contributing("tandai_hadir", mutation=True))
    with pytest.raises(PluginError, match="'desa_b'.*mutation field 'tandaiHadir'.*'desa_a'"):
        build_schema(pm, Settings())


@pytest.mark.parametrize("core_field", ["registrations", "viewer", "pilot"])
def test_field_clashing_with_the_core(core_field):
    pm = manager(pembajak=contributing(core_field))
    with pytest.raises(PluginError, match=f"'pembajak'.*'{core_field}'.*the core"):
        build_schema(pm, Settings())


def test_distinct_fields_are_merged():
    pm = manager(desa_a=contributing("kantor_desa"), desa_b=contributing("kantor_kelurahan"))
    sdl = build_schema(pm, Settings()).as_str()
    assert "kantorDesa: Kantor!" in sdl and "kantorKelurahan: Kantor!" in sdl and "viewer: Viewer!" in sdl


def test_schema_part_of_the_wrong_type():
    class Loose:
        @hookimpl
        def graphql_schema_parts(self):
            return {"query_fields": {}}

    with pytest.raises(PluginError, match="'loose'.*SchemaPart"):
        manager(loose=Loose()).schema_parts()


# --- settings and pilots --------------------------------------------------------------------------


def test_validate_settings_names_the_setting():
    pm = PluginManager()
    assert pm.validate_settings("criteria", {"electricity_limit_va": 900}).electricity_limit_va == 900
    cases = [
        ("criteria", {"electricity_limit_va": "banyak"}, "electricity_limit_va", "integer"),
        ("criteria", {"decile_limits": {"PKH": "empat"}}, "decile_limits.PKH", "integer"),
        ("ikd", {"issuer": "http://127.0.0.1:8601", "audience": "portal", "issuer_url": "x"},
         "issuer_url", "unknown setting"),
        ("ikd", {"issuer": "http://127.0.0.1:8601"}, "audience", "required setting is missing"),
    ]
    for plugin, settings, field, message in cases:
        with pytest.raises(PluginSettingsError) as caught:
            pm.validate_settings(plugin, settings)
        assert caught.value.plugin == plugin and f"setting {field!r}" in str(caught.value)
        assert [m for f, m in caught.value.problems if f == field and message in m], caught.value.problems
    with pytest.raises(UnknownPlugin):
        pm.validate_settings("sms_blaster", {})


def test_plugin_without_settings_refuses_settings():
    pm = manager(grounds=Grounds())
    assert pm.validate_settings("grounds", None) == {}
    with pytest.raises(PluginSettingsError, match="setting 'region'.*takes no settings"):
        pm.validate_settings("grounds", {"region": "35.10"})


def test_for_pilot_with_an_unknown_plugin():
    pm = PluginManager()
    def ctx(*names):
        return PilotContext(None, "JMR-2025", "Jember", ("35.09",), ("PKH",), {n: {} for n in names})
    assert pm.for_pilot(ctx("appeals")).pilot.code == "JMR-2025"
    with pytest.raises(UnknownPlugin) as caught:
        pm.for_pilot(ctx("appeals", "jember_sms"))
    assert caught.value.plugin == "jember_sms" and "appeals, criteria, ikd, notify_sms, oidc" in str(caught.value)


def test_a_model_level_settings_rule_names_the_plugin_not_a_root_field():
    """A validator over the settings as a whole has no field: the problem is the plugin's settings
    (``plugins.<name>``), not a made-up ``(root)`` setting."""
    from pydantic import BaseModel, model_validator

    class WindowSettings(BaseModel):
        opens_day: int = 1
        closes_day: int = 30

        @model_validator(mode="after")
        def _ordered(self):
            if self.closes_day <= self.opens_day:
                raise ValueError("closes_day must come after opens_day")
            return self

    class WindowPlugin:
        @hookimpl
        def plugin_settings_schema(self):
            return WindowSettings

    pm = PluginManager(extra_plugins=[("window", WindowPlugin())], load_entry_points=False)
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    data["plugins"] = {"window": {"opens_day": 20, "closes_day": 10}}
    with pytest.raises(PilotFileError) as refused:
        parse_pilot(data, pm)
    ((field, message),) = [p for p in refused.value.problems if p[0].startswith("plugins.")]
    assert field == "plugins.window" and "closes_day must come after opens_day" in message
