"""The ``perlinsos`` command line: every command has --help; plugins and schema export work."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from perlinsos.cli import main
from perlinsos.pilots.files import bundled_pilot_file

ROOT = Path(__file__).resolve().parents[2]


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("command", [(), *all_commands(main)], ids=lambda c: " ".join(c) or "perlinsos")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_plugins_lists_the_builtins_their_hooks_and_pilots(database_url):
    runner = CliRunner()
    env = {"PERLINSOS_DATABASE_URL": database_url}
    assert runner.invoke(main, ["pilot", "load", str(bundled_pilot_file())], env=env).exit_code == 0
    result = runner.invoke(main, ["plugins"], env=env)
    assert result.exit_code == 0, result.output
    for name in ("ikd", "criteria", "notify_sms", "appeals"):
        assert f"{name}  [perlinsos " in result.output
    assert "hooks:  appeal_grounds, check_appeal, plugin_settings_schema" in result.output
    assert result.output.count("pilots: BWI-2025") == 4


def test_schema_export_check_detects_drift(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "export", "-o", "s.graphql"]).exit_code == 0
    assert runner.invoke(main, ["schema", "export", "-o", "s.graphql", "--check"]).exit_code == 0
    Path("s.graphql").write_text("type Query { stale: Int }\n")
    result = runner.invoke(main, ["schema", "export", "-o", "s.graphql", "--check"])
    assert result.exit_code == 1 and "out of date" in result.output


def test_db_upgrade_reports_an_unreachable_database_clearly():
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", "postgresql://u:pw@127.0.0.1:1/x"])
    assert result.exit_code == 1
    assert "cannot reach database" in result.output and "pw" not in result.output


def test_db_upgrade_creates_and_reports_current(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--database-url", url]).exit_code == 0
    result = runner.invoke(main, ["db", "current", "--database-url", url])
    assert "up to date" in result.output


def test_malformed_environment_setting_is_named(monkeypatch):
    monkeypatch.setenv("PERLINSOS_MAX_PAGE_SIZE", "lots")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1 and "PERLINSOS_MAX_PAGE_SIZE" in result.output


def test_hook_register_commands(monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("PERLINSOS_EXTRA_PLUGINS", "fixtures.cli_plugin")
    result = runner.invoke(main, ["sapa", "Kemiren"])
    assert result.exit_code == 0, result.output
    assert result.output == "Halo, Kemiren!\n"
    assert "sapa" in runner.invoke(main, ["--help"]).output

    # Without the plugin, the command is gone again.
    monkeypatch.delenv("PERLINSOS_EXTRA_PLUGINS")
    assert runner.invoke(main, ["sapa", "x"]).exit_code == 2

    # A plugin taking a core command's name is refused, named; core commands still work.
    monkeypatch.setenv("PERLINSOS_EXTRA_PLUGINS", "fixtures.cli_clash_plugin")
    result = runner.invoke(main, ["no-such-command"])
    assert result.exit_code == 1
    assert "fixtures.cli_clash_plugin" in result.output and "'serve'" in result.output
    assert "Serve the GraphQL API" in runner.invoke(main, ["serve", "--help"]).output


def test_staff_commands_assign_list_and_revoke(database_url):
    runner = CliRunner()
    env = {"PERLINSOS_DATABASE_URL": database_url, "PERLINSOS_NATIONAL_ISSUERS": "https://ikd.example"}
    result = runner.invoke(main, ["staff", "assign", "--subject", "admin-1", "--role", "ADMIN", "--region", "35"],
                           env=env)
    assert result.exit_code == 0 and "admin-1 (https://ikd.example) ADMIN in 35" in result.output, result.output
    # a national role for a provider the deployment does not mark national is refused
    regional = runner.invoke(main, ["staff", "assign", "--subject", "admin-2", "--role", "ADMIN", "--region", "35",
                                    "--issuer", "https://sso.jemberkab.example"], env=env)
    assert regional.exit_code == 1 and "national identity provider" in regional.output
    bad = runner.invoke(main, ["staff", "assign", "--subject", "x", "--role", "REVIEWER", "--region", "35.10.99"],
                        env=env)
    assert bad.exit_code == 1 and "Unknown region code" in bad.output
    assert "admin-1\tADMIN\t35" in runner.invoke(main, ["staff", "list"], env=env).output
    assert runner.invoke(main, ["staff", "revoke", "1"], env=env).exit_code == 0
    assert runner.invoke(main, ["staff", "list"], env=env).output == ""
    assert "revoked" in runner.invoke(main, ["staff", "list", "--all"], env=env).output
    missing = runner.invoke(main, ["staff", "revoke", "99"], env=env)
    assert missing.exit_code == 1 and "Assignment not found" in missing.output
