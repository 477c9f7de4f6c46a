"""``perlinsos ikd-sim``: serve the IKD simulator (added to the CLI by the plugin's hook), and
``start_in_thread`` for a process that runs the simulator beside something else (the demo)."""

from __future__ import annotations

import logging
import time
from typing import Any

import click

from perlinsos.devservers import serve_in_thread

DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 8601, "people": 2000, "seed": 2025,
                            "audience": "perlinsos-portal", "client_secret": "dev-only-ikd-secret",
                            "issuer": None, "token_seconds": 3600}


def simulator_server(**options: Any):
    """A ``uvicorn.Server`` for the simulator (options as ``DEFAULTS``), and a one-line summary."""
    import uvicorn

    from perlinsos_ikd.population import Population
    from perlinsos_ikd.simulator import create_simulator

    o = DEFAULTS | options
    started = time.perf_counter()
    population = Population(o["people"], o["seed"])
    host = f"[{o['host']}]" if ":" in o["host"] else o["host"]
    base_url = f"http://{host}:{o['port']}"
    issuer = o["issuer"] or base_url
    app = create_simulator(population, issuer, o["audience"], o["client_secret"], base_url=base_url,
                           token_seconds=o["token_seconds"])
    # No access log (paths carry NIKs; the app logs them masked). A simulator need not drain slow
    # requests (a "slow" fault may be sleeping) before it exits.
    config = uvicorn.Config(app, host=o["host"], port=o["port"], access_log=False, log_level="info",
                            timeout_graceful_shutdown=1)
    summary = (f"IKD simulator: {len(population)} synthetic people in {population.household_count} households "
               f"(seed {o['seed']}, built in {time.perf_counter() - started:.1f} s); issuer {issuer}, "
               f"audience {o['audience']}, at {base_url}")
    return uvicorn.Server(config), summary


def start_in_thread(timeout: float = 60, **options: Any):
    """Serve the simulator from a daemon thread; returns the server once it accepts connections.
    Stop it with ``server.should_exit = True``."""
    server, summary = simulator_server(**options)
    return serve_in_thread(server, name="ikd-sim", summary=summary, timeout=timeout)


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
def ikd_sim(**options: Any) -> None:
    """Run a local IKD (Identitas Kependudukan Digital) simulator for development and tests.

    A real OpenID Connect provider over a synthetic Banyuwangi population: discovery, JWKS,
    sign-in, consent, the consented person-data and facts APIs, and /sim/* controls (faults, key
    rotation, listing people). Every person is synthetic. Never expose it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server, summary = simulator_server(**options)
    click.echo(summary)
    server.run()
