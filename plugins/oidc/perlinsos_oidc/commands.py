"""``perlinsos oidc-sim``: serve the OIDC sign-in simulator (added to the CLI by the plugin's hook),
and ``start_in_thread`` for a process that runs the simulator beside something else (a demo)."""

from __future__ import annotations

import logging
from typing import Any

import click

from perlinsos.devservers import serve_in_thread
from perlinsos.identity.oidc import check_issuer

DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 8603, "issuer": None, "audience": "perlinsos-portal",
                            "key_seed": None, "token_seconds": 3600, "nik_claim": "nik"}


def simulator_server(**options: Any):
    """A ``uvicorn.Server`` for the simulator (options as ``DEFAULTS``), and a one-line summary."""
    import uvicorn

    from perlinsos_oidc.simulator import create_simulator

    o = DEFAULTS | options
    host = f"[{o['host']}]" if ":" in o["host"] else o["host"]
    base_url = f"http://{host}:{o['port']}"
    issuer = check_issuer(o["issuer"]) if o["issuer"] else base_url
    app = create_simulator(issuer, o["audience"], base_url=base_url, key_seed=o["key_seed"],
                           token_seconds=o["token_seconds"], nik_claim=o["nik_claim"])
    kid = app.state.sim.key.kid
    # A simulator need not drain requests before it exits. No request bodies are logged (they carry NIKs).
    config = uvicorn.Config(app, host=o["host"], port=o["port"], access_log=True, log_level="info",
                            timeout_graceful_shutdown=1)
    summary = (f"OIDC sign-in simulator: issuer {issuer}, audience {o['audience']}, ES256 key {kid} "
               f"({'from seed' if o['key_seed'] is not None else 'generated'}), at {base_url}")
    return uvicorn.Server(config), summary


def start_in_thread(timeout: float = 30, **options: Any):
    """Serve the simulator from a daemon thread; returns the server once it accepts connections.
    Stop it with ``server.should_exit = True``."""
    server, summary = simulator_server(**options)
    return serve_in_thread(server, name="oidc-sim", summary=summary, timeout=timeout)


def _issuer(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_issuer(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("oidc-sim")
@click.option("--host", default=DEFAULTS["host"], show_default=True)
@click.option("--port", default=DEFAULTS["port"], show_default=True, type=click.IntRange(1, 65535))
@click.option("--issuer", default=None, callback=_issuer, help="`iss` of issued tokens [default: http://HOST:PORT].")
@click.option("--audience", default=DEFAULTS["audience"], show_default=True, help="`aud` of issued tokens.")
@click.option("--key-seed", default=None,
              help="Derive the ES256 key from this seed (same seed, same key) instead of generating one.")
@click.option("--token-seconds", default=DEFAULTS["token_seconds"], show_default=True,
              type=click.IntRange(60, 86400), help="Default lifetime of issued tokens.")
@click.option("--nik-claim", default=DEFAULTS["nik_claim"], show_default=True,
              help="The claim that carries a citizen's NIK (the plugin's nik_claim setting).")
def oidc_sim(**options: Any) -> None:
    """Run a local OpenID Connect sign-in provider (a region's SSO) for development and tests.

    Discovery, a JWKS with its own EC P-256 key (ES256), and POST /token, which signs a token for
    any test user: {"sub": "...", "nik": "..."} for a citizen, {"sub": "...", "staff": true} for
    staff. No consent, no person data. Anyone who reaches it can sign in as anyone: never expose it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server, summary = simulator_server(**options)
    click.echo(summary)
    server.run()
