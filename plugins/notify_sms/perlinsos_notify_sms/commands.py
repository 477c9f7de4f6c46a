"""``perlinsos sms-sim``: serve the SMS gateway simulator (added to the CLI by the plugin's hook),
and ``start_in_thread`` for a process that runs the simulator beside something else (the demo)."""

from __future__ import annotations

import logging
from typing import Any

import click

from perlinsos.devservers import serve_in_thread

DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 8602, "api_key": "dev-only-sms-key", "seed": 2025,
                            "report_delay": 0.2, "report_attempts": 3, "report_backoff": 0.5,
                            "fail_numbers": (), "refuse_numbers": ()}


def _numbers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(n.strip() for n in value or () if n and n.strip())


def simulator_server(**options: Any):
    """A ``uvicorn.Server`` for the simulator (options as ``DEFAULTS``), and a one-line summary."""
    import uvicorn

    from perlinsos_notify_sms.simulator import create_simulator

    o = DEFAULTS | options
    fail, refuse = _numbers(o["fail_numbers"]), _numbers(o["refuse_numbers"])
    app = create_simulator(o["api_key"], seed=o["seed"], report_delay_seconds=o["report_delay"],
                           report_attempts=o["report_attempts"], report_backoff_seconds=o["report_backoff"],
                           fail_numbers=fail, refuse_numbers=refuse)
    host = f"[{o['host']}]" if ":" in o["host"] else o["host"]
    # No access log from uvicorn (the app logs requests with numbers masked). A simulator need not
    # drain slow requests (a "slow" fault may be sleeping) before it exits.
    config = uvicorn.Config(app, host=o["host"], port=o["port"], access_log=False, log_level="info",
                            timeout_graceful_shutdown=1)
    summary = (f"SMS gateway simulator at http://{host}:{o['port']} (seed {o['seed']}; delivery reports after "
               f"{o['report_delay']:g} s; FAILED for numbers ending 0000"
               + (f" and {len(fail)} listed" if fail else "") + (f"; refusing {len(refuse)} listed" if refuse else "")
               + ")")
    return uvicorn.Server(config), summary


def start_in_thread(timeout: float = 30, **options: Any):
    """Serve the simulator from a daemon thread; returns the server once it accepts connections.
    Stop it with ``server.should_exit = True``."""
    server, summary = simulator_server(**options)
    return serve_in_thread(server, name="sms-sim", summary=summary, timeout=timeout)


@click.command("sms-sim")
@click.option("--host", default=DEFAULTS["host"], show_default=True)
@click.option("--port", default=DEFAULTS["port"], show_default=True, type=click.IntRange(1, 65535))
@click.option("--api-key", default=DEFAULTS["api_key"], show_default=True, envvar="PERLINSOS_SMS_API_KEY",
              help="The key callers send as a bearer token; it also signs delivery reports.")
@click.option("--seed", default=DEFAULTS["seed"], show_default=True, type=int,
              help="Seeds the 'drop' fault: same seed, same requests dropped.")
@click.option("--report-delay", default=DEFAULTS["report_delay"], show_default=True,
              type=click.FloatRange(0, 3600), help="Seconds between accepting a message and its delivery report.")
@click.option("--report-attempts", default=DEFAULTS["report_attempts"], show_default=True,
              type=click.IntRange(1, 20), help="Tries per delivery report (retried on errors, 5xx and 404).")
@click.option("--report-backoff", default=DEFAULTS["report_backoff"], show_default=True,
              type=click.FloatRange(0, 600), help="Seconds before the second try of a report; doubled after each try.")
@click.option("--fail-numbers", default="", metavar="E164[,E164...]",
              help="Numbers whose delivery report says FAILED (numbers ending 0000 always do).")
@click.option("--refuse-numbers", default="", metavar="E164[,E164...]",
              help="Valid numbers the gateway refuses anyway (422 number_blocked).")
def sms_sim(**options: Any) -> None:
    """Run a local SMS gateway simulator for development, demos and tests.

    POST /messages (Bearer API key) accepts a message once per idempotency key and sends a signed
    delivery report (X-Signature: HMAC-SHA256 of the body with the API key) to its callback_url.
    Numbers that are not Indonesian mobiles are refused (422). /sim/messages, /sim/stats,
    /sim/faults (down, slow, drop) and /sim/reset control it. Never expose it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server, summary = simulator_server(**options)
    click.echo(summary)
    server.run()
