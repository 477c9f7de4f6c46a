"""The SMS gateway simulator's own API, over real HTTP (``perlinsos sms-sim`` in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner
from fixtures.sms import DELIVERABLE, FAILING, FAILING_BY_SUFFIX, REFUSED, CallbackServer, RecordingReceiver, wait_until
from perlinsos.cli import main
from perlinsos_notify_sms.reports import sign, signature_ok


def message(to: str = DELIVERABLE, key: str = "k-1", **extra) -> dict:
    return {"to": to, "sender_id": "PERLINSOS", "text": "PKH: LAYAK. NIK 3510********0001.",
            "idempotency_key": key, **extra}


def test_accepts_a_message(sms_sim):
    reply = sms_sim.post(message())
    assert reply.status_code == 202
    body = reply.json()
    assert body["message_id"].startswith("sim-") and (body["segments"], body["encoding"]) == (1, "GSM-7")
    assert body["duplicate"] is False
    [listed] = sms_sim.messages()
    assert listed["message_id"] == body["message_id"] and listed["to"] == DELIVERABLE
    assert sms_sim.message(body["message_id"]) == listed


def test_counts_segments_and_encoding(sms_sim):
    body = sms_sim.post(message(text="Terima kasih 🙏 " * 6)).json()
    assert (body["encoding"], body["segments"]) == ("UCS-2", 2)  # 96 UTF-16 units


def test_same_key_is_the_same_message(sms_sim):
    first = sms_sim.post(message(key="dup")).json()
    again = sms_sim.post(message(key="dup")).json()
    assert again["message_id"] == first["message_id"] and again["duplicate"] is True
    assert len(sms_sim.messages()) == 1
    assert {k: sms_sim.stats()[k] for k in ("accepted", "duplicates")} == {"accepted": 1, "duplicates": 1}
    # The key of one recipient reused for another is refused, not delivered to the wrong person.
    conflict = sms_sim.post(message(to="+6285712345678", key="dup"))
    assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_key_reused"


def test_idempotency_key_from_the_header(sms_sim):
    payload = message()
    del payload["idempotency_key"]
    reply = sms_sim.http.post("/messages", json=payload, headers={"Authorization": f"Bearer {sms_sim.api_key}",
                                                                   "Idempotency-Key": "from-header"})
    assert reply.status_code == 202 and sms_sim.messages()[0]["idempotency_key"] == "from-header"


@pytest.mark.parametrize("api_key", ["", "wrong", "test-sms-key-but-longer"])
def test_refuses_without_the_api_key(sms_sim, api_key):
    reply = sms_sim.post(message(), api_key=api_key)
    assert reply.status_code == 401 and reply.json()["error"] == "unauthorized"
    assert sms_sim.messages() == [] and sms_sim.stats()["unauthorized"] == 1


@pytest.mark.parametrize("to", ["081234567890", "+14155552671", "+62333424242", "+62812", "not a number", REFUSED])
def test_refuses_numbers_it_does_not_deliver_to(sms_sim, to):
    reply = sms_sim.post(message(to=to))
    assert reply.status_code == 422
    assert reply.json()["error"] == ("number_blocked" if to == REFUSED else "invalid_number")
    assert sms_sim.messages() == [] and sms_sim.stats()["refused"] == 1


@pytest.mark.parametrize("change", [
    {"to": None}, {"sender_id": ""}, {"sender_id": "TWELVE-CHARS"}, {"text": ""}, {"text": 5},
    {"idempotency_key": ""}, {"idempotency_key": "x" * 101}, {"callback_url": "ftp://x"}, {"callback_url": 3},
    {"text": "a" * 1531},  # 11 segments
])
def test_refuses_malformed_messages(sms_sim, change):
    reply = sms_sim.post(message() | change)
    assert reply.status_code == 400, reply.text
    assert sms_sim.messages() == []


def test_refuses_a_body_that_is_not_a_json_object(sms_sim):
    assert sms_sim.post(content=b"{not json").status_code == 400
    assert sms_sim.post(content=b"[1, 2]").status_code == 400


def test_faults_down_and_back(sms_sim):
    sms_sim.set_fault("down")
    assert sms_sim.post(message()).status_code == 503
    assert sms_sim.http.get("/sim/stats").status_code == 200  # controls keep working
    sms_sim.set_fault(None)
    assert sms_sim.post(message()).status_code == 202


def test_drop_is_seeded_and_accepts_before_cutting_the_answer(sms_sim):
    def pattern() -> list[bool]:
        sms_sim.reset()
        sms_sim.set_fault("drop", drop_ratio=0.5)
        dropped = []
        for n in range(20):
            try:
                reply = sms_sim.post(message(key=f"drop-{n}"))
                assert reply.status_code == 202
                dropped.append(False)
            except httpx.RemoteProtocolError:  # the connection closed before the body
                dropped.append(True)
        assert len(sms_sim.messages()) == 20  # every one accepted, dropped or not
        assert sms_sim.stats()["dropped"] == sum(dropped)
        return dropped

    first = pattern()
    assert 4 <= sum(first) <= 16 and pattern() == first


def test_faults_are_validated(sms_sim):
    for body in ({"mode": "explode"}, {"mode": "slow", "delay_seconds": -1}, {"mode": "drop", "drop_ratio": 2},
                 {"mode": "drop", "drop_ratio": "half"}):
        assert sms_sim.http.post("/sim/faults", json=body).status_code == 400


def test_reset_forgets_messages_counters_and_faults(sms_sim):
    sms_sim.post(message())
    sms_sim.set_fault("down")
    sms_sim.reset()
    stats = sms_sim.stats()
    assert sms_sim.messages() == [] and stats["accepted"] == 0 and stats["faults"]["mode"] is None


# --- delivery reports -----------------------------------------------------------------------------


def test_delivery_reports_arrive_signed(sms_sim):
    receiver = RecordingReceiver()
    with CallbackServer(receiver) as callback:
        url = f"{callback.url}/dr"
        ok = sms_sim.post(message(key="a", callback_url=url)).json()["message_id"]
        failing = sms_sim.post(message(to=FAILING, key="b", callback_url=url)).json()["message_id"]
        by_suffix = sms_sim.post(message(to=FAILING_BY_SUFFIX, key="c", callback_url=url)).json()["message_id"]
        sms_sim.post(message(key="a", callback_url=url))  # a duplicate sends no second report
        for message_id in (ok, failing, by_suffix):
            sms_sim.wait_for_report(message_id)
    reports = {json.loads(r["body"])["message_id"]: r for r in receiver.requests}
    assert set(reports) == {ok, failing, by_suffix} and len(receiver.requests) == 3
    for message_id, request in reports.items():
        body = json.loads(request["body"])
        assert request["path"] == "/dr" and request["method"] == "POST"
        assert request["headers"]["x-signature"] == sign(request["body"], sms_sim.api_key)
        assert signature_ok(request["body"], sms_sim.api_key, request["headers"]["x-signature"])
        assert not signature_ok(request["body"], "another-pilot-key", request["headers"]["x-signature"])
        expected = ("DELIVERED", None) if message_id == ok else ("FAILED", "ABSENT_SUBSCRIBER")
        assert (body["status"], body["error"]) == expected
        assert DELIVERABLE not in request["body"].decode()  # the report names the message, not the number
    assert sms_sim.message(ok)["status"] == "DELIVERED" and sms_sim.message(failing)["status"] == "FAILED"
    stats = sms_sim.stats()
    assert (stats["reports_sent"], stats["reports_failed"], stats["delivered"], stats["failed"]) == (3, 0, 1, 2)


def test_delivery_reports_are_retried_on_5xx_and_404_not_on_401(sms_sim):
    receiver = RecordingReceiver(statuses=(503, 404, 200, 401))
    with CallbackServer(receiver) as callback:
        first = sms_sim.post(message(key="r1", callback_url=callback.url + "/dr")).json()["message_id"]
        report = sms_sim.wait_for_report(first)["report"]
        assert report == {"status": "DELIVERED", "http_status": 200, "attempts": 3, "error": None}
        second = sms_sim.post(message(key="r2", callback_url=callback.url + "/dr")).json()["message_id"]
        report = sms_sim.wait_for_report(second)["report"]
        assert report["http_status"] == 401 and report["attempts"] == 1  # refused: no point retrying
    stats = sms_sim.stats()
    assert (stats["reports_sent"], stats["reports_failed"], stats["report_attempts"]) == (1, 1, 4)


def test_unreachable_callback_gives_up_after_the_attempts(sms_sim):
    from fixtures.sms import free_port

    message_id = sms_sim.post(message(callback_url=f"http://127.0.0.1:{free_port()}/dr")).json()["message_id"]
    report = sms_sim.wait_for_report(message_id)["report"]
    assert report["attempts"] == 3 and report["http_status"] is None and report["error"] == "ConnectError"
    assert sms_sim.stats()["reports_failed"] == 1


def test_no_callback_still_delivers(sms_sim):
    message_id = sms_sim.post(message()).json()["message_id"]
    assert wait_until(lambda: sms_sim.message(message_id)["status"] == "DELIVERED")
    assert sms_sim.message(message_id)["report"] is None


# --- the command ------------------------------------------------------------------------------------


def test_sms_sim_help_through_the_cli():
    result = CliRunner().invoke(main, ["sms-sim", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--port", "--api-key", "--fail-numbers", "--refuse-numbers", "--report-delay", "--seed"):
        assert option in result.output
    assert "[default: 8602" in result.output


def test_sms_sim_help_as_a_command():
    done = subprocess.run([sys.executable, "-m", "perlinsos.cli", "sms-sim", "--help"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "SMS gateway simulator" in done.stdout


def test_start_in_thread():
    from fixtures.sms import free_port
    from perlinsos_notify_sms.commands import start_in_thread

    port = free_port()
    server = start_in_thread(port=port, api_key="thread-key")
    try:
        reply = httpx.post(f"http://127.0.0.1:{port}/messages", json=message(),
                           headers={"Authorization": "Bearer thread-key"})
        assert reply.status_code == 202
    finally:
        server.should_exit = True
