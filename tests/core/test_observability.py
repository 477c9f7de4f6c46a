"""Something to watch (issue 18, item 8): Prometheus metrics at ``/metrics`` (requests by operation
and outcome, latency histograms, outbox depth and lag, selection progress, the pool; off by default,
a bearer token in production), one JSON log line per request with no personal data, and the
request id passed on to the plugins' HTTP sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import GraphQLClient
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from fixtures.servers import free_port, wait_until
from perlinsos import metrics
from perlinsos.app import create_app
from perlinsos.db.models import Consent, Notification, NotificationStatus, Person
from perlinsos.errors import ConfigurationError
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.registration.consent import SCOPES
from perlinsos.settings import Settings
from perlinsos.testing.accounts import assign_staff
from perlinsos.testing.fakesource import fake_http_source
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

PILOT_INFO = 'query PilotInfo { pilot(code: "BWI-2025") { code } }'
TESTS = Path(__file__).resolve().parents[1]
SIGN_IN = "fixtures.static_auth"  # the test sign-in, loaded by module path in a server process


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) → value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def outbox(db, rows: list[tuple[str, NotificationStatus, timedelta]]) -> None:
    """Outbox rows (channel, status, how long ago they fell due) for the first seeded person."""
    now = datetime.now(UTC)
    async with db.write() as session:
        person = (await session.execute(select(Person.id).limit(1))).scalar_one()
        for i, (channel, status, ago) in enumerate(rows):
            session.add(Notification(person_id=person, channel=channel, template="t", status=status,
                                     next_attempt_at=now - ago, idempotency_key=f"obs-{i}"))


async def test_metrics_count_operations_and_read_the_outbox(settings, plugin_manager, pilot, db, monkeypatch):
    monkeypatch.setattr(metrics, "MAX_OPERATIONS", 2)  # the cap on distinct names, made small
    await seed.registrations(db, "BWI-2025", 1, with_decision=False)
    await outbox(db, [("sms", NotificationStatus.PENDING, timedelta(minutes=3)),
                      ("sms", NotificationStatus.PENDING, timedelta(seconds=-60)),  # not yet due
                      ("sms", NotificationStatus.DEAD, timedelta(0)),
                      ("portal", NotificationStatus.SENT, timedelta(0))])
    app = create_app(Settings(**{**settings.__dict__, "metrics": True}), plugin_manager)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        client = GraphQLClient(http)
        for _ in range(2):
            await client.data(PILOT_INFO)
        await client.data('{ pilot(code: "BWI-2025") { code } }')
        assert (await client.query("query Broken { nope }"))["errors"]
        await client.post(PILOT_INFO, operation_name="Claimed")  # a name not in the document is not a label
        for name in ("Second", "Third", "Fourth"):  # past the cap: one "other" series, not three
            await client.data(f'query {name} {{ pilot(code: "BWI-2025") {{ code }} }}')
        await http.post("/graphql", content=b"{", headers={"content-type": "application/json"})
        response = await http.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    await app.state.perlinsos.db.dispose()
    samples = scrape(response.text)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("perlinsos_graphql_requests_total", operation="PilotInfo", code="OK") == 2
    assert value("perlinsos_graphql_requests_total", operation="anonymous", code="OK") == 1
    assert value("perlinsos_graphql_requests_total", operation="none", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert value("perlinsos_graphql_requests_total", operation="Second", code="OK") == 1
    assert value("perlinsos_graphql_requests_total", operation="other", code="OK") == 2
    assert value("perlinsos_graphql_requests_total", operation="none", code="BAD_REQUEST") == 2  # "{", "Claimed"
    operations = {dict(labels).get("operation") for (name, labels) in samples if name.startswith("perlinsos_graphql")}
    assert not {"Claimed", "Third", "Broken"} & operations  # invalid documents' names are not labels either
    buckets = {dict(labels)["le"]: v for (name, labels), v in samples.items()
               if name == "perlinsos_graphql_request_duration_seconds_bucket" and dict(labels)["operation"] == "PilotInfo"}
    assert buckets["+Inf"] == 2 and len(buckets) > 5
    assert value("perlinsos_outbox_notifications", status="PENDING", channel="sms") == 2
    assert value("perlinsos_outbox_notifications", status="DEAD", channel="sms") == 1
    assert value("perlinsos_outbox_notifications", status="SENT", channel="portal") == 1
    assert 170 < value("perlinsos_outbox_oldest_due_age_seconds") < 600  # the row due 3 minutes ago
    assert value("perlinsos_selection_runs", status="RUNNING") == 0
    assert value("perlinsos_metrics_database_up") == 1
    assert value("perlinsos_db_pool_connections", state="checked_out") is not None


async def test_metrics_are_off_by_default_and_need_the_token_in_production(settings, plugin_manager):
    async def get(app, **headers) -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            status = (await http.get("/metrics", headers=headers)).status_code
        await app.state.perlinsos.db.dispose()
        return status

    assert await get(create_app(settings, plugin_manager)) == 404
    production = {**settings.__dict__, "production": True}
    with pytest.raises(ConfigurationError, match="PERLINSOS_METRICS_TOKEN"):
        create_app(Settings(**{**production, "metrics": True}), plugin_manager)
    protected = Settings(**{**production, "metrics_token": "scrape-secret-1"})
    assert await get(create_app(protected, plugin_manager)) == 401
    assert await get(create_app(protected, plugin_manager), authorization="Bearer guessed") == 401
    assert await get(create_app(protected, plugin_manager), authorization="Bearer scrape-secret-1") == 200


async def test_request_lines_in_json_and_the_request_id_at_the_source(database_url, db, tmp_path):
    """A real server (``perlinsos serve``, JSON logs): each request is one JSON line with its id,
    pilot, operation, duration and outcome, and no NIK, name or variable anywhere in the log; the
    facts API the criteria plugin asks for the selection run a request started receives its id."""
    with fake_http_source(handler=lambda request: {"results": []}) as source:
        plugin_manager = PluginManager(extra_plugins=[SIGN_IN], national=("ikd", SIGN_IN))  # as the server loads it
        data = pilot_data()
        del data["plugins"][static_auth.NAME]
        data["plugins"].update({SIGN_IN: {}, "ikd": {"issuer": "https://ikd.example", "audience": "portal",
                                        "client_secret": "obs-secret"},
                                "criteria": {"facts_api_url": source.url, "client_secret": "obs-secret"}})
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugin_manager))
        await seed.registrations(db, "BWI-2025", 1, with_decision=False)
        nik = seed.nik(0)
        consent_id = await seed.consent(db, nik, SCOPES)
        async with db.write() as session:
            await session.execute(update(Consent).where(Consent.id == consent_id).values(
                provider_reference="grant-0", provider_issuer="https://ikd.example"))
            name = (await session.execute(select(Person.name).where(Person.nik == nik))).scalar_one()
        await assign_staff(db, plugin_manager, "kantor-pusat", "ADMIN", "35", issuer=static_auth.ISSUER)

        port = free_port()
        env = {**os.environ, "PERLINSOS_DATABASE_URL": database_url, "PERLINSOS_LOG_FORMAT": "json",
               "PERLINSOS_EXTRA_PLUGINS": SIGN_IN, "PERLINSOS_NATIONAL_PROVIDERS": f"ikd,{SIGN_IN}",
               "PERLINSOS_DISPATCHER_IN_PROCESS": "0", "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        server = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", "serve", "--port", str(port)], cwd=tmp_path,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: server.poll() is not None or _answers(f"{base}/health/live"), timeout=60)
            assert server.poll() is None, server.communicate()[1]
            headers = {"X-Perlinsos-Pilot": "BWI-2025", "Authorization": "Bearer staff:kantor-pusat",
                       "X-Request-Id": "obs-run-1"}
            run = 'mutation Run { runSelection(pilot: "BWI-2025") { run { id } errors { code } } }'
            answer = httpx.post(f"{base}/graphql", json={"query": run}, headers=headers, timeout=30)
            assert answer.status_code == 200 and answer.json()["data"]["runSelection"]["errors"] == [], answer.text
            wait_until(lambda: any(r.path == "/facts" for r in source.requests), timeout=30)  # the run asks
            mine = httpx.post(f"{base}/graphql", timeout=30, headers={"X-Perlinsos-Pilot": "BWI-2025",
                                                                     "Authorization": f"Bearer citizen:{nik}"},
                              json={"query": "query Mine($code: String!) { me { person { nik name } } "
                                             "pilot(code: $code) { code } }", "variables": {"code": f"{nik} {name}"}})
            assert nik in mine.text and name in mine.text  # the citizen sees their own data ...
        finally:
            server.terminate()
            _, log = server.communicate(timeout=30)
    assert nik not in log and name not in log and "grant-0" not in log  # ... the log never does
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    requests = {r["request_id"]: r for r in lines if r["logger"] == "perlinsos.requests"}
    first = requests["obs-run-1"]
    assert first["operation"] == "Run" and first["pilot"] == "BWI-2025" and first["outcome"] == "OK"
    assert first["status"] == 200 and first["duration_ms"] > 0 and first["path"] == "/graphql"
    second = requests[mine.headers["x-request-id"]]
    assert second["operation"] == "Mine" and second["status"] == 200
    asked = [r for r in source.requests if r.path == "/facts"]
    assert asked and {r.headers.get("x-request-id") for r in asked} == {"obs-run-1"}


def test_traces_go_to_the_configured_otlp_endpoint(tmp_path):
    """With the otel extra installed and OTEL_EXPORTER_OTLP_ENDPOINT set, requests (and the calls
    they make) are exported as spans over OTLP/HTTP."""
    pytest.importorskip("opentelemetry.instrumentation.starlette")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    with fake_http_source(handler=lambda request: {}) as collector:
        port = free_port()
        env = {**os.environ, "PERLINSOS_DATABASE_URL": f"sqlite:///{tmp_path / 'perlinsos.db'}",
               "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100",
               "OTEL_SERVICE_NAME": "perlinsos-test"}
        server = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", "serve", "--port", str(port)], cwd=tmp_path,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: server.poll() is not None or _answers(f"http://127.0.0.1:{port}/health/live"),
                       timeout=60)
            assert server.poll() is None, server.communicate()[1]
            httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"}, timeout=30)
            wait_until(lambda: any(r.path == "/v1/traces" for r in collector.requests), timeout=30)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    exported = b"".join(r.body for r in collector.requests if r.path == "/v1/traces")
    assert b"perlinsos-test" in exported and b"/graphql" in exported


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
