"""One error model (issue 13, item 2; docs/errors.md): every error a client sees has one shape —
``{"errors": [{"message", "extensions": {"code", "requestId", ...}}]}`` — and a message in the
request's language only (Bahasa Indonesia by default, English on ``Accept-Language: en``), over
HTTP (answers and refusals), the REST routes and the websocket; and every code the code base can
emit is documented."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import replace
from pathlib import Path

import anyio.from_thread
import pytest
from starlette.testclient import TestClient

from fixtures import seed
from perlinsos.app import create_app
from perlinsos.problems import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
PILOT = "BWI-2025"
CITIZEN = f"citizen:{seed.nik(1)}"
SIGN_IN = MESSAGES["UNAUTHENTICATED"]
CREATE = "mutation($i: PilotInput!) { createPilot(input: $i) { errors { code field message } } }"
JEMBER = {"code": "JBR-2026", "name": "Jember", "regions": ["35.09"], "programmes": ["PKH"],
          "phases": {"registrationOpens": "2026-01-01T00:00:00+07:00", "registrationCloses": "2026-06-30T00:00:00+07:00"},
          "plugins": [{"name": "static_auth", "settings": {}}]}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 4 + b"\xff\xd9"


def error_of(body: dict, code: str) -> dict:
    """The one error of ``body``, in the one shape, with ``code`` and a request id."""
    (error,) = body["errors"]
    assert set(error) <= {"message", "extensions", "locations", "path"}, error
    assert error["extensions"]["code"] == code, error
    assert re.fullmatch(r"[0-9a-f]{32}", error["extensions"]["requestId"]), error
    assert error["message"] and " / " not in error["message"], error  # one language, never "id / en"
    return error


def messages(pair: list[dict], code: str) -> tuple[str, str]:
    """(Bahasa Indonesia, English) messages of the same error asked for without and with ``en``."""
    indonesian, english = (error_of(body, code)["message"] for body in pair)
    assert indonesian != english
    return indonesian, english


# --- "not signed in" reads the same everywhere ---------------------------------------------------


async def test_not_signed_in_is_one_code_and_one_message_at_the_top_level_in_payloads_and_on_evidence(client):
    for language, expected in (("id", SIGN_IN[0]), ("en", SIGN_IN[1])):
        top = await client.query("{ me { unreadNotifications } }", language=language)
        worklist = await client.query("{ worklist { pageInfo { hasNextPage } } }", language=language)
        payload = await client.query(CREATE, {"i": JEMBER}, language=language)
        evidence = await client.http.post("/evidence", content=JPEG, headers={
            "X-Perlinsos-Pilot": PILOT, "Content-Type": "image/jpeg", "X-Evidence-Kind": "KTP",
            "Accept-Language": language})
        assert error_of(top, "UNAUTHENTICATED")["message"] == expected
        assert error_of(worklist, "UNAUTHENTICATED")["message"] == expected
        assert payload["data"]["createPilot"]["errors"] == [{"code": "UNAUTHENTICATED", "field": None,
                                                              "message": expected}]
        assert evidence.status_code == 401 and evidence.headers["WWW-Authenticate"] == "Bearer"
        assert error_of(evidence.json(), "UNAUTHENTICATED")["message"] == expected


# --- top-level GraphQL errors ------------------------------------------------------------------

TOP_LEVEL = [
    ("FORBIDDEN", "{ staffAssignments { nodes { subject } } }", CITIZEN, "tidak berhak", "may not"),
    ("BAD_USER_INPUT", "{ me { notifications(after: \"x\") { nodes { id } } } }", CITIZEN, "Kursor", "cursor"),
    ("OPERATION_NAME_REQUIRED", "query A { viewer { kind } } query B { viewer { kind } }", None,
     "sebutkan operationName", "Must provide operation name"),
    ("TOO_MANY_ALIASES", "{ " + " ".join(f"a{i}: viewer {{ kind }}" for i in range(31)) + " }", None,
     "alias", "aliases found"),
    ("QUERY_TOO_DEEP", '{ registrations(pilot: "BWI-2025") { nodes { ' + "decision { registration { " * 6 + "id"
     + " } }" * 6 + " } } }", None, "terlalu dalam", "maximum operation depth"),
]


@pytest.mark.parametrize(("code", "query", "token", "id_words", "en_words"), TOP_LEVEL, ids=[c[0] for c in TOP_LEVEL])
async def test_top_level_errors_carry_a_code_and_speak_the_requests_language(client, code, query, token, id_words,
                                                                             en_words):
    pair = [await client.query(query, token=token), await client.query(query, token=token, language="en-GB,en;q=0.9")]
    indonesian, english = messages(pair, code)
    assert id_words in indonesian and en_words not in indonesian
    assert en_words in english


@pytest.mark.parametrize(("query", "code"), [("{ viewer { kind }", "GRAPHQL_PARSE_FAILED"),
                                             ("{ viewr { kind } }", "GRAPHQL_VALIDATION_FAILED"),
                                             ("query($n: Int) { me { notifications(first: $n) { nodes { id } } } }",
                                              None)])
async def test_graphql_cores_own_errors_get_a_code_too(client, query, code):
    if code is None:  # a variable of the wrong type: the client's input
        body = await client.query(query, {"n": "lima"})
        code = "BAD_USER_INPUT"
    else:
        body = await client.query(query)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code and error["extensions"]["requestId"]


async def test_a_bad_first_on_notifications_is_local_to_the_field_and_leaves_me_answered(client):
    body = await client.query("{ me { person { nik } unreadNotifications notifications(first: 0) { nodes { id } } } }",
                              token=CITIZEN, language="en")
    error = error_of(body, "BAD_USER_INPUT")
    assert error["path"] == ["me", "notifications"] and "`first` must be between 1 and" in error["message"]
    assert body["data"]["me"] == {"person": None, "unreadNotifications": 0, "notifications": None}


# --- HTTP refusals of /graphql ------------------------------------------------------------------

REFUSALS = [  # (case, status, code, request arguments, Indonesian words, English words)
    ("unknown pilot", 400, "PILOT_UNKNOWN", {"headers": {"X-Perlinsos-Pilot": "NOPE-1"}}, "tidak ditemukan",
     "Unknown pilot"),
    ("bad token", 401, "UNAUTHENTICATED", {"headers": {"Authorization": "Bearer bad:forged"}}, "Token tidak sah",
     "Invalid or expired token"),
    ("too large", 413, "PAYLOAD_TOO_LARGE", {"content": b'{"query": "' + b" " * 100_001 + b'"}'}, "lebih besar",
     "larger than"),
    ("not json", 415, "UNSUPPORTED_MEDIA_TYPE", {"headers": {"Content-Type": "text/plain"}}, "Kirim operasi",
     "Send operations"),
    ("put", 405, "METHOD_NOT_ALLOWED", {"method": "PUT"}, "Gunakan GET", "Use GET"),
    ("batch", 400, "BAD_REQUEST", {"content": b'[{"query": "{ viewer { kind } }"}]'}, "tidak didukung",
     "not supported"),
    ("get without preflight", 400, "BAD_REQUEST", {"method": "GET", "params": {"query": "{ viewer { kind } }"},
                                                   "headers": {"X-Perlinsos-Pilot": ""}}, "memerlukan header",
     "needs an X-Perlinsos-Pilot"),
]


@pytest.mark.parametrize(("case", "status", "code", "sent", "id_words", "en_words"), REFUSALS,
                         ids=[c[0] for c in REFUSALS])
async def test_http_refusals_have_the_one_shape_and_the_requests_language(client, case, status, code, sent,
                                                                          id_words, en_words):
    pair = []
    for language in (None, "en"):
        headers = {"X-Perlinsos-Pilot": PILOT, "Content-Type": "application/json",
                   **({"Accept-Language": language} if language else {}), **sent.get("headers", {})}
        response = await client.http.request(
            sent.get("method", "POST"), "/graphql", headers={k: v for k, v in headers.items() if v},
            params=sent.get("params"), content=sent.get("content", b'{"query": "{ viewer { kind } }"}'))
        assert response.status_code == status, response.text
        assert "data" not in response.json()
        pair.append(response.json())
    indonesian, english = messages(pair, code)
    assert id_words in indonesian and en_words in english


# --- REST routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/health/nope", 404, "NOT_FOUND"), ("POST", "/health/live", 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/evidence", 405, "METHOD_NOT_ALLOWED"), ("POST", "/evidence", 401, "UNAUTHENTICATED")])
async def test_rest_routes_answer_errors_in_the_one_shape(client, method, path, status, code):
    pair = []
    for language in ("id", "en"):
        response = await client.http.request(method, path, content=JPEG, headers={
            "X-Perlinsos-Pilot": PILOT, "Content-Type": "image/jpeg", "Accept-Language": language})
        assert response.status_code == status and response.headers["content-type"] == "application/json"
        pair.append(response.json())
    messages(pair, code)


async def test_an_evidence_refusal_names_the_header_at_fault(client, db, pilot):
    await seed.registrations(db, pilot, 1)
    response = await client.http.post("/evidence", content=JPEG, headers={
        "X-Perlinsos-Pilot": PILOT, "Authorization": f"Bearer {CITIZEN}", "Content-Type": "image/jpeg",
        "X-Evidence-Kind": "LAINNYA"})
    assert response.status_code == 422
    error = error_of(response.json(), "EVIDENCE_KIND_INVALID")
    assert error["extensions"]["header"] == "X-Evidence-Kind" and "field" not in error["extensions"]
    assert error["message"].startswith("Jenis bukti tidak dikenal.")


# --- payload errors ------------------------------------------------------------------------------


async def test_payload_errors_never_append_english_detail_to_a_bahasa_indonesia_message(client, db, pilot):
    await seed.staff(db, "admin", "ADMIN", "35")
    bad = {"i": JEMBER | {"programmes": ["BLT"]}}
    (indonesian,) = (await client.query(CREATE, bad, token="staff:admin"))["data"]["createPilot"]["errors"]
    (english,) = (await client.query(CREATE, bad, token="staff:admin", language="en"))["data"]["createPilot"]["errors"]
    assert indonesian["code"] == english["code"] == "PILOT_INVALID" and indonesian["field"] == "programmes"
    assert "unknown programme 'BLT'" in english["message"]
    assert indonesian["message"] == "Isian uji coba tidak valid. (programmes)"


# --- the websocket -------------------------------------------------------------------------------


@pytest.fixture
def web(settings, plugin_manager, pilot):
    app = create_app(replace(settings, dispatcher_in_process=False, max_subscriptions_per_connection=1),
                     plugin_manager)
    with contextlib.ExitStack() as stack:
        client = TestClient(app)
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
        stack.callback(portal.call, app.state.perlinsos.db.dispose)
        yield client


@pytest.mark.parametrize(("init", "headers", "language"), [({}, {}, "id"), ({"language": "en"}, {}, "en"),
                                                           ({}, {"Accept-Language": "en"}, "en")])
def test_the_websocket_speaks_the_connections_language(web, init, headers, language):
    with web.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                               headers={"X-Perlinsos-Pilot": PILOT, **headers}) as ws:
        ws.send_text(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {CITIZEN}", **init}}))
        assert json.loads(ws.receive_text())["type"] == "connection_ack"
        ws.send_text(json.dumps({"id": "1", "type": "subscribe",
                                 "payload": {"query": "{ staffAssignments { nodes { subject } } }"}}))
        answer = json.loads(ws.receive_text())
        assert answer["type"] == "next", answer
        forbidden = error_of(answer["payload"], "FORBIDDEN")["message"]
        assert forbidden == {"id": "Anda tidak berhak melakukan ini.", "en": "You may not do this."}[language]
        ws.send_text(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "{ viewer { kind } }",
                                                                             "variables": []}}))
        while (refused := json.loads(ws.receive_text()))["type"] == "complete":
            pass
        assert refused["type"] == "error" and refused["id"] == "2", refused
        message = error_of({"errors": refused["payload"]}, "BAD_REQUEST")["message"]
        assert message == {"id": "variables harus objek JSON.", "en": "`variables` must be an object or null."}[language]


# --- every code is documented --------------------------------------------------------------------

#: where a code is given: a literal at a raising or refusing call (catalogues are read below)
PATTERNS = [r'problem\(\s*"([A-Z][A-Z0-9_]+)"', r'refusal\(\s*"([A-Z][A-Z0-9_]+)"',
            r'Refusal\(\s*\d+\s*,\s*"([A-Z][A-Z0-9_]+)"', r'_error\(\s*"([A-Z][A-Z0-9_]+)"',
            r'"code"\s*:\s*"([A-Z][A-Z0-9_]+)"', r'_found\(\s*node\s*,\s*"([A-Z][A-Z0-9_]+)"',
            r'(?:Problem|AppealProblem|RolloutRefused)\(\s*"([A-Z][A-Z0-9_]+)"', r'error_dict\(\s*"([A-Z][A-Z0-9_]+)"',
            r'super\(\)\.__init__\(\s*"([A-Z][A-Z0-9_]+)"']


def emitted_codes() -> set[str]:
    from perlinsos.appeals.evidence.errors import MESSAGES as EVIDENCE
    from perlinsos.graphql import language_errors, unavailable, websocket

    found = set(MESSAGES) | set(EVIDENCE) | set(unavailable.MESSAGES) | set(language_errors.STATUS_CODES.values())
    found |= {websocket.TOO_MANY}
    # graphql-core's own errors get theirs where errors are formatted
    found |= set(re.findall(r'return "([A-Z][A-Z0-9_]+)"', (ROOT / "platform/perlinsos/graphql/language_errors.py")
                            .read_text(encoding="utf-8")))
    files = [*sorted((ROOT / "platform/perlinsos").rglob("*.py")), *sorted((ROOT / "plugins").rglob("*.py"))]
    for file in files:
        if "simulator" in file.parts or "tests" in file.parts:  # simulators imitate other systems' errors
            continue
        text = file.read_text(encoding="utf-8")
        for pattern in PATTERNS:
            found |= set(re.findall(pattern, text))
    return found


def test_every_code_the_code_base_can_emit_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs/errors.md").read_text(encoding="utf-8")))
    codes = emitted_codes()
    assert {"RATE_LIMITED", "CONFLICT_OF_INTEREST", "DATABASE_UNAVAILABLE", "TOO_MANY_SUBSCRIPTIONS",
            "PILOT_UNKNOWN", "TRUSTED_DOCUMENT_REQUIRED", "EVIDENCE_KIND_INVALID"} <= codes  # the scan finds them
    assert codes - documented == set(), "codes a client can see but docs/errors.md does not list"
