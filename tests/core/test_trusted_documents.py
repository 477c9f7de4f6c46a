"""Trusted documents (issue 13, item 6): a client sends the hash of an operation in the manifest
(graphql-codegen's client preset, ``sha256:<hex>`` → document) instead of the document, over HTTP
POST and GET and the websocket; in production the server runs manifest documents only, except for
the staff roles allowed to send any (``PERLINSOS_TRUSTED_DOCUMENTS_ROLES``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import anyio.from_thread
import httpx
import pytest
from starlette.testclient import TestClient

from fixtures import seed
from perlinsos.app import create_app
from perlinsos.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
PILOT = "BWI-2025"
HEADERS = {"X-Perlinsos-Pilot": PILOT}
CITIZEN = f"citizen:{seed.nik(1)}"
VIEWER = "query Viewer { viewer { kind language pilot roles subject } }"
UNREAD = "query UnreadCount { me { unreadNotifications } }"
NEW = "subscription NewNotifications { notifications { body createdAt id readAt template title } }"
ARBITRARY = "{ viewer { kind } }"


def sha(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode()).hexdigest()


@pytest.fixture
def manifest(tmp_path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha(d): d for d in (VIEWER, UNREAD, NEW)}), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def serving(settings, plugin_manager, **overrides):
    app = create_app(replace(settings, **overrides), plugin_manager)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http
    await app.state.perlinsos.db.dispose()


def answer(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: httpx.Response, code: str) -> str:
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code
    return error["message"]


async def test_a_document_id_gets_the_same_answer_as_the_document(settings, plugin_manager, pilot, manifest):
    async with serving(settings, plugin_manager, trusted_documents_manifest=str(manifest)) as http:
        headers = {**HEADERS, "Authorization": f"Bearer {CITIZEN}"}
        whole = answer(await http.post("/graphql", json={"query": VIEWER}, headers=headers))
        assert whole["data"]["viewer"]["kind"] == "citizen"
        hexdigest = sha(VIEWER).removeprefix("sha256:")
        for body in ({"documentId": sha(VIEWER)}, {"documentId": hexdigest},
                     {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hexdigest}}}):
            assert answer(await http.post("/graphql", json=body, headers=headers)) == whole
        by_get = await http.get("/graphql", params={"documentId": sha(VIEWER)}, headers=headers)
        assert answer(by_get) == whole
        with_variables = await http.post("/graphql", json={"documentId": sha(UNREAD), "variables": {}}, headers=headers)
        assert answer(with_variables) == {"data": {"me": {"unreadNotifications": 0}}}


async def test_the_repositorys_manifest_is_the_default(settings, plugin_manager, pilot):
    manifest = json.loads((ROOT / "schema/persisted-documents.json").read_text(encoding="utf-8"))
    (viewer,) = [key for key, document in manifest.items() if document.startswith("query Viewer ")]
    assert viewer == sha(manifest[viewer])  # the client preset's rule: sha256 of the document text
    async with serving(settings, plugin_manager) as http:
        assert answer(await http.post("/graphql", json={"documentId": viewer}, headers=HEADERS))["data"]["viewer"]


@pytest.mark.parametrize("document_id", ["sha256:" + "0" * 64, "nope", 42, None])
async def test_an_unknown_document_id_is_refused_in_the_requests_language(settings, plugin_manager, pilot, manifest,
                                                                          document_id):
    async with serving(settings, plugin_manager, trusted_documents_manifest=str(manifest)) as http:
        body = {"documentId": document_id}
        if document_id is None:  # Apollo's form
            body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "f" * 64}}}
        indonesian = refused(await http.post("/graphql", json=body, headers=HEADERS), "PERSISTED_QUERY_NOT_FOUND")
        english = refused(await http.post("/graphql", json=body, headers={**HEADERS, "Accept-Language": "en"}),
                          "PERSISTED_QUERY_NOT_FOUND")
        assert "tidak dikenal" in indonesian and english.startswith("Unknown documentId")


async def test_production_runs_manifest_documents_only_but_for_the_staff_roles(settings, plugin_manager, db, pilot,
                                                                                manifest):
    await seed.staff(db, "admin", "ADMIN", "35")
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    async with serving(settings, plugin_manager, production=True, dispatcher_in_process=False,
                       trusted_documents_manifest=str(manifest)) as http:
        for token in (None, CITIZEN, "staff:rev"):
            headers = {**HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
            message = refused(await http.post("/graphql", json={"query": ARBITRARY}, headers=headers),
                              "TRUSTED_DOCUMENT_REQUIRED")
            assert "operasi terdaftar" in message
            assert answer(await http.post("/graphql", json={"documentId": sha(VIEWER)}, headers=headers))["data"]
            # the manifest's own text, sent whole, is the same document
            assert answer(await http.post("/graphql", json={"query": VIEWER}, headers=headers))["data"]
        admin = {**HEADERS, "Authorization": "Bearer staff:admin"}
        assert answer(await http.post("/graphql", json={"query": ARBITRARY}, headers=admin)) == {
            "data": {"viewer": {"kind": "staff"}}}
    async with serving(settings, plugin_manager, trusted_documents="require", trusted_documents_roles=(),
                       trusted_documents_manifest=str(manifest)) as http:
        refused(await http.post("/graphql", json={"query": ARBITRARY}, headers=admin), "TRUSTED_DOCUMENT_REQUIRED")


async def test_off_refuses_document_ids_and_allow_takes_both(settings, plugin_manager, pilot, manifest):
    async with serving(settings, plugin_manager, trusted_documents="off") as http:
        refused(await http.post("/graphql", json={"documentId": sha(VIEWER)}, headers=HEADERS),
                "PERSISTED_QUERY_NOT_SUPPORTED")
        assert answer(await http.post("/graphql", json={"query": ARBITRARY}, headers=HEADERS))["data"]
    async with serving(settings, plugin_manager, trusted_documents_manifest=str(manifest)) as http:  # development
        assert answer(await http.post("/graphql", json={"query": ARBITRARY}, headers=HEADERS))["data"]
        assert answer(await http.post("/graphql", json={"documentId": sha(VIEWER)}, headers=HEADERS))["data"]


def test_require_without_a_manifest_stops_start_up(settings, plugin_manager, tmp_path):
    with pytest.raises(ConfigurationError, match="manifest"):
        create_app(replace(settings, trusted_documents="require",
                           trusted_documents_manifest=str(tmp_path / "missing.json")), plugin_manager)


@pytest.fixture
def web(settings, plugin_manager, pilot, manifest):
    app = create_app(replace(settings, dispatcher_in_process=False, trusted_documents="require",
                             trusted_documents_manifest=str(manifest)), plugin_manager)
    with contextlib.ExitStack() as stack:
        client = TestClient(app)
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
        stack.callback(portal.call, app.state.perlinsos.db.dispose)
        yield client


def test_the_websocket_takes_document_ids_and_requires_them(web):
    with web.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=HEADERS) as ws:
        ws.send_text(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {CITIZEN}",
                                                                        "language": "en"}}))
        assert json.loads(ws.receive_text())["type"] == "connection_ack"
        ws.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": {"documentId": sha(UNREAD)}}))
        assert json.loads(ws.receive_text()) == {"id": "1", "type": "next",
                                                 "payload": {"data": {"me": {"unreadNotifications": 0}}}}
        assert json.loads(ws.receive_text())["type"] == "complete"
        ws.send_text(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "subscription { notifications "
                                                                                      "{ title } }"}}))
        refused_ = json.loads(ws.receive_text())
        assert refused_["type"] == "error" and refused_["payload"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
        ws.send_text(json.dumps({"id": "3", "type": "subscribe", "payload": {"documentId": "sha256:" + "0" * 64}}))
        unknown = json.loads(ws.receive_text())
        assert unknown["type"] == "error" and unknown["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert unknown["payload"][0]["message"].startswith("Unknown documentId")
        ws.send_text(json.dumps({"id": "4", "type": "subscribe", "payload": {"documentId": sha(NEW)}}))
        ws.send_text(json.dumps({"id": "4", "type": "complete"}))  # accepted: it runs until completed
        ws.send_text(json.dumps({"type": "ping"}))
        assert json.loads(ws.receive_text())["type"] == "pong"
