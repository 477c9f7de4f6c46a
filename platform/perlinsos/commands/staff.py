"""Staff roles (FACILITATOR, REVIEWER, ADMIN, VILLAGE_OPERATOR) within a region."""

from __future__ import annotations

import asyncio

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError
from perlinsos.settings import Settings


@click.group()
def staff() -> None:
    """Staff assignments: facilitators, reviewers, village office operators and the national office (ADMIN)."""


def _staff_session(settings: Settings, work):
    from perlinsos.db.engine import Database

    async def run():
        database = Database(settings.database_url)
        try:
            await database.ping()
            async with database.write() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


@staff.command("assign")
@click.option("--subject", required=True, help="The staff member's identity-provider subject.")
@click.option("--role", required=True,
              type=click.Choice(["FACILITATOR", "REVIEWER", "ADMIN", "VILLAGE_OPERATOR"]))
@click.option("--region", "region_code", required=True, help="Kode wilayah, e.g. 35.10.15.2004.")
@click.option("--pilot", "pilot_code", default=None,
              help="The pilot the role is for; without it the role is national (national provider only).")
@click.option("--issuer", default=None,
              help="The staff member's identity provider (OpenID issuer); optional when only one fits.")
@click.option("--name", default=None)
@database_option
def staff_assign(subject, role, region_code, pilot_code, issuer, name, database_url) -> None:
    """Give SUBJECT a role in a region (e.g. the first national admin)."""
    from perlinsos.identity import staff as service
    from perlinsos.errors import Problem

    settings = load_settings(database_url)
    try:
        row = _staff_session(settings, lambda s: service.assign(
            s, None, subject=subject, role=role, region_code=region_code, pilot_code=pilot_code, name=name,
            issuer=issuer, plugins=load_plugins(settings)))
    except Problem as exc:
        raise click.ClickException(exc.message("en")) from None
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"assignment {row.id}: {row.subject} ({row.issuer}) {row.role.value} in {row.region_code}")


@staff.command("revoke")
@click.argument("assignment_id", type=int)
@database_option
def staff_revoke(assignment_id, database_url) -> None:
    """Revoke assignment ASSIGNMENT_ID."""
    from perlinsos.identity import staff as service
    from perlinsos.errors import Problem

    settings = load_settings(database_url)
    try:
        row = _staff_session(settings, lambda s: service.revoke(s, None, assignment_id))
    except Problem as exc:
        raise click.ClickException(exc.message("en")) from None
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"assignment {row.id} revoked")


@staff.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked assignments.")
@database_option
def staff_list(include_revoked, database_url) -> None:
    """List staff assignments."""
    from perlinsos.identity import staff as service

    settings = load_settings(database_url)
    try:
        rows = _staff_session(settings, lambda s: service.page(s, after_id=None, limit=10_000,
                                                                 include_revoked=include_revoked))
    except ConfigurationError as exc:
        fail(exc)
    for row in rows:
        revoked = f"\trevoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else ""
        click.echo(f"{row.id}\t{row.subject}\t{row.role.value}\t{row.region_code}{revoked}")
