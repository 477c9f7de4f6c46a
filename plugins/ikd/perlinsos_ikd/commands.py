"""``perlinsos ikd-sim``: serve the IKD simulator (added to the CLI by the plugin's hook), and
``start_in_thread`` for a process that runs the simulator beside something else (the demo)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import click

from perlinsos.devservers import serve_in_thread

DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 8601, "people": 2000, "seed": 2025,
                            "audience": "perlinsos-portal", "client_secret": "dev-only-ikd-secret",
                            "issuer": None, "token_seconds": 3600, "regions": ("35.10",)}


def simulator_server(**options: Any):
    """A ``uvicorn.Server`` for the simulator (options as ``DEFAULTS``), and a one-line summary.

    ``regions``: regency codes (``people`` shared in proportion to their population) or a mapping
    regency code → people (``people`` is then their total)."""
    import uvicorn

    from perlinsos_ikd.population import Population
    from perlinsos_ikd.simulator import create_simulator

    o = DEFAULTS | options
    started = time.perf_counter()
    regions = o["regions"]
    population = Population(None if isinstance(regions, Mapping) else o["people"], o["seed"], regions=regions)
    host = f"[{o['host']}]" if ":" in o["host"] else o["host"]
    base_url = f"http://{host}:{o['port']}"
    issuer = o["issuer"] or base_url
    app = create_simulator(population, issuer, o["audience"], o["client_secret"], base_url=base_url,
                           token_seconds=o["token_seconds"])
    # No access log (paths carry NIKs; the app logs them masked). A simulator need not drain slow
    # requests (a "slow" fault may be sleeping) before it exits.
    config = uvicorn.Config(app, host=o["host"], port=o["port"], access_log=False, log_level="info",
                            timeout_graceful_shutdown=1)
    where = ", ".join(f"{part.name} ({part.code}) {part.people}" for part in population.parts)
    summary = (f"IKD simulator: {len(population)} synthetic people in {population.household_count} households "
               f"of {where} (seed {o['seed']}, built in {time.perf_counter() - started:.1f} s); issuer {issuer}, "
               f"audience {o['audience']}, at {base_url}")
    return uvicorn.Server(config), summary


def start_in_thread(timeout: float = 60, **options: Any):
    """Serve the simulator from a daemon thread; returns the server once it accepts connections.
    Stop it with ``server.should_exit = True``."""
    server, summary = simulator_server(**options)
    return serve_in_thread(server, name="ikd-sim", summary=summary, timeout=timeout)


def _parse_regions(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``("35.10", "35.09")`` as given, or ``{"35.10": 300, "35.09": 450}`` when every one has =PEOPLE."""
    pairs = [value.partition("=") for value in values]
    with_counts = [bool(sep) for _, sep, _ in pairs]
    if not any(with_counts):
        return tuple(code.strip() for code, _, _ in pairs)
    if not all(with_counts):
        raise click.BadParameter("give =PEOPLE on every --region, or on none")
    counts: dict[str, int] = {}
    for code, _, people in pairs:
        if not people.strip().isdigit() or int(people) < 1 or code.strip() in counts:
            raise click.BadParameter(f"{code}={people}: a regency once, with a whole number of people >= 1")
        counts[code.strip()] = int(people)
    return counts


@click.command("ikd-sim")
@click.option("--host", default=DEFAULTS["host"], show_default=True)
@click.option("--port", default=DEFAULTS["port"], show_default=True, type=click.IntRange(1, 65535))
@click.option("--people", default=DEFAULTS["people"], show_default=True, type=click.IntRange(1, 5_000_000),
              help="Size of the synthetic population.")
@click.option("--seed", default=DEFAULTS["seed"], show_default=True, type=int, help="Same seed, same people.")
@click.option("--audience", default=DEFAULTS["audience"], show_default=True, help="`aud` of issued tokens.")
@click.option("--client-secret", default=DEFAULTS["client_secret"], show_default=True,
              envvar="PERLINSOS_IKD_CLIENT_SECRET", help="The platform's credential for the person-data APIs.")
@click.option("--issuer", default=None, help="`iss` of issued tokens [default: http://HOST:PORT].")
@click.option("--token-seconds", default=DEFAULTS["token_seconds"], show_default=True,
              type=click.IntRange(60, 86400), help="Lifetime of issued tokens.")
@click.option("--region", "regions", multiple=True, metavar="CODE[=PEOPLE]", callback=_parse_regions,
              help="A regency to populate (repeatable), e.g. --region 35.10 --region 35.09: --people are shared in "
                   "proportion to their population; with =PEOPLE on every one (35.09=500) those counts are used "
                   "and --people is ignored.  [default: 35.10]")
def ikd_sim(**options: Any) -> None:
    """Run a local IKD (Identitas Kependudukan Digital) simulator for development and tests.

    A real OpenID Connect provider over a synthetic population of the given regencies (by default
    Kabupaten Banyuwangi): discovery, JWKS, sign-in, consent, the consented person-data and facts
    APIs, and /sim/* controls (faults, key rotation, listing people). Every person is synthetic.
    Never expose it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not options["regions"]:
        options["regions"] = DEFAULTS["regions"]
    try:
        server, summary = simulator_server(**options)
    except ValueError as exc:  # an unknown regency, or fewer people than regencies
        raise click.BadParameter(str(exc), param_hint="'--region' / '--people'") from None
    click.echo(summary)
    server.run()
