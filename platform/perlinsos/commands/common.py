"""What every command needs: settings from the environment, the plugin manager, one error style."""

from __future__ import annotations

import click

from perlinsos.settings import Settings, SettingsError


def load_settings(database_url: str | None = None) -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if database_url:
        from dataclasses import replace

        settings = replace(settings, database_url=database_url)
    return settings


def load_plugins(settings: Settings):
    from perlinsos.plugins import PluginManager

    return PluginManager(extra_plugins=settings.extra_plugins, disabled=settings.disabled_plugins,
                         national=settings.national_providers, national_issuers=settings.national_issuers,
                         production=settings.production)


def fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from None


database_option = click.option(
    "--database-url", envvar="PERLINSOS_DATABASE_URL", default=None,
    help="SQLAlchemy URL (default: sqlite:///perlinsos.db; env PERLINSOS_DATABASE_URL).",
)
