"""The demo: the platform on its embedded defaults, with the simulators its pilot points at.

``perlinsos demo`` starts each installed simulator (``perlinsos ikd-sim``, ``perlinsos sms-sim``:
commands that plugins add) as a child process, stores the bundled Banyuwangi pilot pointed at the
simulators' and the API's ports, serves the API from a thread of this process and then runs the
scripted walk through the four stages (:mod:`perlinsos.demo_script`) over HTTP. The demo never
imports a plugin itself.
"""

from __future__ import annotations

import atexit
import subprocess
import sys
import time
import tomllib
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
                     timeout: float = 60) -> dict[str, subprocess.Popen]:
    """Start each installed simulator; return the processes by command (stopped at exit)."""
    processes: dict[str, subprocess.Popen] = {}
    for sim in SIMULATORS:
        if sim.command not in available:
            echo(f"{sim.command}: not installed, skipped")
            continue
        port = getattr(ports, sim.port_of)
        args = [sys.executable, "-m", "perlinsos.cli", sim.command, "--port", str(port)]
        if sim.command == "ikd-sim":
            args += ["--people", str(people)]
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


async def seed(settings, plugins, data: dict[str, Any], source: str) -> str:
    """Store the pilot (validated like ``perlinsos pilot load``) and the demo admin; return the code."""
    from perlinsos.identity import staff
    from perlinsos.db.engine import Database
    from perlinsos.pilots.files import parse_pilot
    from perlinsos.pilots.store import save_pilot

    spec = parse_pilot(data, plugins, source=source)
    db = Database(settings.database_url)
    try:
        await db.ping()
        async with db.write() as session:
            await save_pilot(session, spec)
            # region: the pilot's own (the whole regency), as the national office would grant it
            await staff.assign(session, None, subject=ADMIN_SUBJECT, role="ADMIN", region_code=spec.regions[0],
                               name="Kantor pusat (demo)")
        return spec.code
    finally:
        await db.dispose()


def serve_api(settings, plugins, host: str, port: int):
    """Serve the API from a daemon thread (so the script can run beside it); returns the uvicorn
    server once it accepts connections. Stop it with :func:`stop_api`."""
    import uvicorn

    from perlinsos.app import create_app
    from perlinsos.devservers import serve_in_thread

    config = uvicorn.Config(create_app(settings, plugins), host=host, port=port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=2)
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
        exit_after_script: bool, available: set[str], echo=print) -> None:
    """The whole demo (the database is already current). Serves until interrupted, or returns
    after the script with ``exit_after_script`` (raising if the script failed)."""
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
    code = asyncio.run(seed(settings, plugins, pilot_data(ports, str(source)), f"{source.name} (demo ports)"))
    echo(f"pilot {code} loaded; national-office account for the demo: {ADMIN_SUBJECT}")
    # The demo delivers notifications itself, and GraphiQL needs no pilot header.
    settings = replace(settings, portal_url=url(ports.api), dispatcher_in_process=True,
                       default_pilot=settings.default_pilot or code)
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the API and the simulators are stopped below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    processes, server = {}, None
    try:
        if simulators:
            processes = start_simulators(available, people=people, ports=ports, echo=echo)
        server = serve_api(settings, plugins, host, ports.api)
        endpoints = demo_script.Endpoints(api=url(ports.api, host), ikd=url(ports.ikd), sms=url(ports.sms),
                                          pilot=code)
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
