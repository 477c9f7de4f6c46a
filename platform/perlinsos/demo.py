"""The demo: the platform on its embedded defaults, with the simulators its pilot points at.

``perlinsos demo`` starts each installed simulator (``perlinsos ikd-sim``, ``perlinsos sms-sim``:
commands that plugins add) as a child process, stores the bundled Banyuwangi pilot pointed at the
simulators' and the API's ports, serves the API from a thread of this process and then runs the
scripted walk through the four stages (:mod:`perlinsos.demo_script`) over HTTP. The demo never
imports a plugin itself.

``--pilot-region 35.09`` adds a pilot for another regency beside Banyuwangi's (``JBR-DEMO`` for
Kabupaten Jember: the bundled pilot's programmes, phases and plugins, pointed at the same
simulators); the IKD simulator then also populates that regency, in proportion to its population,
while Banyuwangi keeps the same people as without it.
"""

from __future__ import annotations

import atexit
import copy
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

#: the demo's national-office account; the only record the demo writes without the API (the
#: first admin has to come from somewhere: in a deployment, ``perlinsos staff assign``)
ADMIN_SUBJECT = "admin-demo"


@dataclass(frozen=True)
class Ports:
    api: int = 8600
    ikd: int = 8601
    sms: int = 8602


@dataclass(frozen=True)
class Simulator:
    command: str
    port_of: str  # the Ports field it listens on
    ready_path: str


SIMULATORS = (
    Simulator("ikd-sim", "ikd", "/.well-known/openid-configuration"),
    Simulator("sms-sim", "sms", "/health"),
)


def url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def start_simulators(available: set[str], *, people: int, ports: Ports = Ports(), echo=print,
                     timeout: float = 60, ikd_regions: dict[str, int] | None = None) -> dict[str, subprocess.Popen]:
    """Start each installed simulator; return the processes by command (stopped at exit).
    ``ikd_regions``: people per regency for the IKD simulator (default: ``people`` in Banyuwangi)."""
    processes: dict[str, subprocess.Popen] = {}
    for sim in SIMULATORS:
        if sim.command not in available:
            echo(f"{sim.command}: not installed, skipped")
            continue
        port = getattr(ports, sim.port_of)
        args = [sys.executable, "-m", "perlinsos.cli", sim.command, "--port", str(port)]
        if sim.command == "ikd-sim":
            args += ["--people", str(people)]
            for code, count in (ikd_regions or {}).items():
                args += ["--region", f"{code}={count}"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        processes[sim.command] = process
        atexit.register(stop, process)
        _wait(f"{url(port)}{sim.ready_path}", process, sim.command, timeout)
        echo(f"{sim.command}: {url(port)}")
    return processes


def pilot_data(ports: Ports, source: str) -> dict[str, Any]:
    """The bundled pilot file with its simulator and portal URLs on the demo's ports."""
    with open(source, "rb") as f:
        data = tomllib.load(f)
    plugins = data.get("plugins", {})
    if "ikd" in plugins:
        plugins["ikd"]["issuer"] = url(ports.ikd)
    if "notify_sms" in plugins:
        plugins["notify_sms"] |= {"gateway_url": url(ports.sms), "portal_url": url(ports.api),
                                  "delivery_report_url": f"{url(ports.api)}/plugins/notify_sms/delivery-reports"}
    return data


@dataclass(frozen=True)
class RegionalPilot:
    """A demo pilot for another regency, beside the bundled one."""

    code: str  # e.g. JBR-DEMO
    region: str  # regency code, e.g. 35.09
    name: str  # the regency's, e.g. Kabupaten Jember


def regional_pilots(codes: Sequence[str], bundled: dict[str, Any]) -> tuple[RegionalPilot, ...]:
    """One pilot per ``--pilot-region`` (a regency the region data knows, outside the bundled pilot)."""
    from perlinsos import regions

    pilots: list[RegionalPilot] = []
    taken = {bundled.get("code")}
    for code in dict.fromkeys(c.strip() for c in codes):
        region = regions.get(code)
        if region is None or region.level != "regency":
            raise RuntimeError(f"--pilot-region {code}: not a regency code the region data knows (e.g. 35.09)")
        if any(regions.is_within(code, area) or regions.is_within(area, code) for area in bundled["regions"]):
            raise RuntimeError(f"--pilot-region {code}: the bundled pilot {bundled['code']} already covers it")
        if not regions.villages(code):
            raise RuntimeError(f"--pilot-region {code}: the region data has no villages in {region.name}")
        pilot_code = demo_pilot_code(region.name)
        if pilot_code in taken:
            pilot_code = f"{pilot_code[:-len('-DEMO')]}{code.replace('.', '')}-DEMO"
        taken.add(pilot_code)
        pilots.append(RegionalPilot(pilot_code, code, region.name))
    return tuple(pilots)


def demo_pilot_code(name: str) -> str:
    """``JBR-DEMO`` for Kabupaten Jember: the place's first letter and its last two consonants
    (``KOTA-`` before a city's), then ``-DEMO``."""
    kind, _, place = name.partition(" ")
    if kind not in ("Kabupaten", "Kota"):
        kind, place = "", name
    letters = [c for c in place.upper() if "A" <= c <= "Z"] or ["X"]
    consonants = [c for c in letters[1:] if c not in "AEIOU"]
    return f"{'KOTA-' if kind == 'Kota' else ''}{letters[0]}{''.join(consonants[-2:])}-DEMO"


def regional_pilot_data(data: dict[str, Any], pilot: RegionalPilot) -> dict[str, Any]:
    """The bundled pilot's data (already on the demo's ports) for another regency."""
    regional = copy.deepcopy(data)
    regional |= {"code": pilot.code, "name": f"Uji coba Portal Perlinsos {pilot.name} (demo)",
                 "regions": [pilot.region]}
    return regional


def ikd_population(people: int, bundled_regions: Sequence[str], pilots: Sequence[RegionalPilot]) -> dict[str, int]:
    """People per regency for the IKD simulator: ``people`` in the bundled pilot's regency (the
    same people as without other pilots), and each other regency in proportion to its population."""
    from perlinsos import regions

    home = list(dict.fromkeys(code[:5] for code in bundled_regions))
    counts = {code: people // len(home) + (i < people % len(home)) for i, code in enumerate(home)}
    home_total = sum(regions.population(code) or 0 for code in home)
    for pilot in pilots:
        total = regions.population(pilot.region)
        counts[pilot.region] = max(1, round(people * total / home_total)) if total and home_total else people
    return counts


async def seed(settings, plugins, data: dict[str, Any], source: str,
               more: Sequence[tuple[dict[str, Any], str]] = ()) -> str:
    """Store the pilot (validated like ``perlinsos pilot load``), the ``more`` pilots (data, source)
    beside it, and the demo admin; return the first pilot's code."""
    from perlinsos.identity import staff
    from perlinsos.db.engine import Database
    from perlinsos.pilots.files import parse_pilot
    from perlinsos.pilots.store import save_pilot

    spec = parse_pilot(data, plugins, source=source)
    others = [parse_pilot(d, plugins, source=s) for d, s in more]
    db = Database(settings.database_url)
    try:
        await db.ping()
        async with db.write() as session:
            await save_pilot(session, spec)
            for other in others:
                await save_pilot(session, other)
            # region: the pilot's own (the whole regency), as the national office would grant it
            # national (no pilot): an IKD subject, IKD being the demo's national provider
            await staff.assign(session, None, subject=ADMIN_SUBJECT, role="ADMIN", region_code=spec.regions[0],
                               issuer=None, plugins=plugins, name="Kantor pusat (demo)")
        return spec.code
    finally:
        await db.dispose()


def serve_api(settings, plugins, host: str, port: int):
    """Serve the API from a daemon thread (so the script can run beside it); returns the uvicorn
    server once it accepts connections. Stop it with :func:`stop_api`."""
    import uvicorn

    from perlinsos.app import create_app, server_options
    from perlinsos.devservers import serve_in_thread

    config = uvicorn.Config(create_app(settings, plugins), host=host, port=port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=2, **server_options(settings))
    return serve_in_thread(uvicorn.Server(config), name="api", summary=f"Perlinsos API at {url(port, host)}")


def stop_api(server, timeout: float = 10) -> None:
    """Ask uvicorn to finish (it runs the lifespan's shutdown: the dispatcher stops) and wait."""
    import threading

    server.should_exit = True
    for thread in threading.enumerate():
        if thread.name == "api":
            thread.join(timeout)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the demo dies, even if the demo's atexit handlers never
    run (a SIGKILL, or a signal the demo did not handle)."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait(address: str, process: subprocess.Popen, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} "
                               f"(is port {address.split(':')[2].split('/')[0]} free?)")
        try:
            if httpx.get(address, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer at {address} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(settings, plugins, ports: Ports, *, host: str, people: int, simulators: bool, script: bool,
        exit_after_script: bool, available: set[str], echo=print, pilot_regions: Sequence[str] = (),
        class_size: int = 0, cards: str | None = None) -> None:
    """The whole demo (the database is already current). Serves until interrupted, or returns
    after the script with ``exit_after_script`` (raising if the script failed). ``pilot_regions``:
    regency codes that get a pilot of their own beside the bundled one (e.g. ``("35.09",)``)."""
    import asyncio
    import signal
    from dataclasses import replace

    from perlinsos import demo_script
    from perlinsos.pilots.files import bundled_pilot_file

    check_free(host, ports.api, "--port")
    if simulators:
        check_free("127.0.0.1", ports.ikd, "--ikd-port")
        check_free("127.0.0.1", ports.sms, "--sms-port")
    source = bundled_pilot_file()
    data = pilot_data(ports, str(source))
    pilots = regional_pilots(pilot_regions, data)
    more = [(regional_pilot_data(data, p), f"{source.name} for {p.region} (demo)") for p in pilots]
    if class_size:  # --training: a facilitator class on a training pilot (perlinsos.demo_training)
        from perlinsos import demo_training

        more.append((demo_training.training_pilot_data(data), f"{source.name} as a training pilot (demo)"))
    code = asyncio.run(seed(settings, plugins, data, f"{source.name} (demo ports)", more))
    echo(f"pilot {code} loaded; national-office account for the demo: {ADMIN_SUBJECT}")
    for p in pilots:
        echo(f"pilot {p.code} loaded for {p.name} ({p.region}): send the header X-Perlinsos-Pilot: {p.code}")
    # The demo delivers notifications itself, and GraphiQL needs no pilot header.
    settings = replace(settings, portal_url=url(ports.api), dispatcher_in_process=True,
                       default_pilot=settings.default_pilot or code)
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the API and the simulators are stopped below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    processes, server = {}, None
    try:
        if simulators:
            ikd_regions = ikd_population(people, data["regions"], pilots) if pilots else None
            processes = start_simulators(available, people=people, ports=ports, echo=echo, ikd_regions=ikd_regions)
        server = serve_api(settings, plugins, host, ports.api)
        if class_size and "ikd-sim" in processes:
            from pathlib import Path

            from perlinsos import demo_training

            seated = asyncio.run(demo_training.seat_class(settings, plugins, ikd_url=url(ports.ikd),
                                                          issuer=data["plugins"]["ikd"]["issuer"], size=class_size,
                                                          region=data["regions"][0]))
            written = demo_training.write_cards(seated, Path(cards or "latihan-kartu.csv"),
                                                sign_in_url=f"{url(ports.ikd)}/sim/sign-in")
            echo(f"training pilot {demo_training.CODE}: {len(seated)} seats, sign-in cards in {written}; "
                 f"send the header X-Perlinsos-Pilot: {demo_training.CODE}; "
                 f"reset for the next class: perlinsos pilot reset-training {demo_training.CODE}")
        home = data["regions"][0] if len(data["regions"]) == 1 else None
        endpoints = demo_script.Endpoints(
            api=url(ports.api, host), ikd=url(ports.ikd), sms=url(ports.sms), pilot=code, region=home,
            regional=tuple(demo_script.Regional(p.code, p.region, p.name) for p in pilots))
        echo(f"Perlinsos API at {endpoints.api}/graphql")
        summary = failure = None
        if script and {"ikd-sim", "sms-sim"} <= set(processes):
            try:
                summary = demo_script.run_script(endpoints, echo=echo)
                echo(demo_script.format_summary(summary))
            except demo_script.DemoFailure as exc:
                failure = exc
                echo(f"demo script failed: {exc}")
        elif script:
            echo("demo script skipped: it needs the IKD and SMS simulators (the ikd and notify_sms plugins)")
        if exit_after_script:
            if failure is not None:
                raise RuntimeError(f"demo script failed: {failure}")
            return
        if summary is not None:
            echo(demo_script.how_to_explore(endpoints, summary))
        _serve_until_interrupted()
    finally:
        if server is not None:
            stop_api(server)
        for process in processes.values():
            stop(process)


def check_free(host: str, port: int, option: str) -> None:
    """Fail before starting anything, with the option to change, rather than midway."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"port {port} on {host} is not available ({exc.strerror}); "
                               f"choose another with {option}") from None


def _serve_until_interrupted() -> None:
    import threading

    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
