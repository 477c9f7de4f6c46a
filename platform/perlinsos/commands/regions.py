"""The region list (Kemendagri kode wilayah): check a newer list before using it, look a code up."""

from __future__ import annotations

from pathlib import Path

import click

from perlinsos import regions

_PLURALS = {"province": "provinces", "regency": "regencies/cities", "district": "districts", "village": "villages"}


@click.group("regions")
def regions_cmd() -> None:
    """The region list: the shipped one, or the file PERLINSOS_REGIONS_FILE names."""


@regions_cmd.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def check(file: Path | None) -> None:
    """Check a region file (columns code,name) as the platform would load it; FILE defaults to the list in use.

    Prints how many regions it holds per level, or every problem found with its line (exit code 2).
    """
    path = file or Path(regions.data_file())
    try:
        counts = regions.check_file(path)
    except regions.RegionFileError as exc:
        click.echo(f"error: {exc}", err=True)
        for line, problem in exc.problems[1:]:
            click.echo(f"  {'' if line is None else f'line {line}: '}{problem}", err=True)
        if exc.count > len(exc.problems):
            click.echo(f"  ... {exc.count - len(exc.problems)} more not shown", err=True)
        raise SystemExit(2) from None
    click.echo(f"{path}: ok")
    for level, count in counts.items():
        click.echo(f"  {_PLURALS[level] + ':':<18}{count:>7,}")


@regions_cmd.command("show")
@click.argument("code")
def show(code: str) -> None:
    """Name, level, parents and population (kept per province and regency/city) of a region CODE, e.g. 35.10."""
    try:
        region = regions.get(code)
    except regions.RegionFileError as exc:
        raise click.ClickException(str(exc)) from None
    if region is None:
        raise click.BadParameter(f"{code!r} is not a region of the list in use ({regions.data_file()})",
                                 param_hint="CODE")
    chain = []
    up = region.parent_code
    while up is not None:
        chain.append(regions.get(up))
        up = regions.parent_code(up)
    level = region.level + (f" ({region.kind})" if region.kind else "")
    click.echo(f"code:       {region.code}")
    click.echo(f"name:       {region.name}")
    click.echo(f"level:      {level}")
    if chain:
        click.echo(f"in:         {' > '.join(f'{r.name} ({r.code})' for r in reversed(chain))}")
    click.echo(f"population: {_population(region, chain)}")
    below = regions.children(region.code)
    if below:
        click.echo(f"contains:   {len(below):,} {_PLURALS[below[0].level]}")


def _population(region: regions.Region, chain: list[regions.Region]) -> str:
    own = regions.population(region.code)
    if own is not None:
        return f"{own:,}"
    # Below the regency there are no figures; the regency's is the nearest honest one.
    for up in chain:
        figure = regions.population(up.code)
        if figure is not None:
            return f"not kept below regency/city level ({up.name}: {figure:,})"
    return "unknown"
