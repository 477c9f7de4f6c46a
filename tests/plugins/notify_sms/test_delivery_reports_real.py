"""A report settles an SMS once: DELIVERED, FAILED, DEAD and UNDELIVERABLE rows are final, and a late,
repeated or contradicting report changes neither the row nor the audit log; every open state is
settled. Signed posts to the platform's route, recorded by the platform's own recorder."""

from __future__ import annotations

import pytest
from perlinsos.db.models import AuditEvent, Notification
from sqlalchemy import select

from .reporting import BWI, Outbox, S, post

FINAL = [(S.DELIVERED, None), (S.FAILED, "ABSENT_SUBSCRIBER"), (S.DEAD, "gateway down"),
         (S.UNDELIVERABLE, "no mobile number")]
OPEN = [S.PENDING, S.SENDING, S.SENT]


@pytest.fixture
async def outbox(client, db) -> Outbox:
    box = Outbox(db)
    box.http = client.http
    return box


@pytest.mark.parametrize(("status", "error"), FINAL, ids=[s.value for s, _ in FINAL])
@pytest.mark.parametrize("late", ["DELIVERED", "FAILED"])
async def test_a_late_report_does_not_overwrite_a_final_row(outbox, status, error, late):
    row = await outbox.sms(BWI, "sim-final", status, last_error=error)
    reply = await post(outbox.http, {"message_id": "sim-final", "status": late, "error": "EXPIRED"})
    assert reply.status_code == 200  # the gateway need not retry: there is nothing more to record
    assert await outbox.row(row) == (status.value, error, "sim-final")
    assert await outbox.reported() == []


@pytest.mark.parametrize("status", OPEN, ids=[s.value for s in OPEN])
async def test_every_open_row_is_settled_by_its_report(outbox, status):
    delivered = await outbox.sms(BWI, "sim-open-1", status, last_error="timeout, retrying")
    failed = await outbox.sms(BWI, "sim-open-2", status)
    assert (await post(outbox.http, {"message_id": "sim-open-1", "status": "DELIVERED"})).status_code == 200
    assert (await post(outbox.http, {"message_id": "sim-open-2", "status": "FAILED", "error": "EXPIRED"})
            ).status_code == 200
    assert await outbox.row(delivered) == ("DELIVERED", None, "sim-open-1")  # the old error is cleared
    assert await outbox.row(failed) == ("FAILED", "EXPIRED", "sim-open-2")
    assert await outbox.reported() == [("gateway:sms", str(delivered), "DELIVERED"),
                                       ("gateway:sms", str(failed), "FAILED")]


async def test_the_first_report_wins_and_is_logged_once(outbox):
    row = await outbox.sms(BWI, "sim-twice")
    for status in ("DELIVERED", "DELIVERED", "FAILED"):  # the gateway retried, then contradicted itself
        assert (await post(outbox.http, {"message_id": "sim-twice", "status": status})).status_code == 200
    assert await outbox.row(row) == ("DELIVERED", None, "sim-twice")
    assert await outbox.reported() == [("gateway:sms", str(row), "DELIVERED")]


async def test_a_report_before_the_send_was_recorded_finds_the_row_by_its_key(outbox):
    """The dispatcher died after the gateway accepted: the row has no reference yet, and the
    gateway echoes the idempotency key."""
    row = await outbox.sms(BWI, None, S.SENDING, key="decision-7-v1-sms")
    other = await outbox.sms(BWI, None, S.SENDING, key="decision-8-v1-sms")
    body = {"message_id": "sim-early", "status": "DELIVERED", "idempotency_key": "decision-7-v1-sms"}
    assert (await post(outbox.http, body)).status_code == 200
    assert await outbox.row(row) == ("DELIVERED", None, "sim-early")
    assert await outbox.row(other) == ("SENDING", None, None)
    # a key nobody used, or a reference that is not the row's, finds nothing
    unknown = {"message_id": "sim-early-2", "status": "DELIVERED", "idempotency_key": "decision-9-v1-sms"}
    assert (await post(outbox.http, unknown)).status_code == 404
    assert await outbox.row(other) == ("SENDING", None, None)


async def test_the_reference_wins_over_the_key_and_keys_are_per_channel(outbox):
    by_reference = await outbox.sms(BWI, "sim-ref", key="decision-1-v1-sms")
    by_key = await outbox.sms(BWI, None, S.SENDING, key="decision-2-v1-sms")
    # the gateway's reference names one row, its echoed key another: the reference decides
    body = {"message_id": "sim-ref", "status": "FAILED", "idempotency_key": "decision-2-v1-sms"}
    assert (await post(outbox.http, body)).status_code == 200
    assert await outbox.row(by_reference) == ("FAILED", "delivery failed", "sim-ref")
    assert await outbox.row(by_key) == ("SENDING", None, None)
    # a key echoed for the SMS channel does not find a row of another channel
    async with outbox.db.write() as s:
        (await s.get(Notification, by_key)).channel = "pesan"
    body = {"message_id": "sim-other", "status": "DELIVERED", "idempotency_key": "decision-2-v1-sms"}
    assert (await post(outbox.http, body)).status_code == 404
    assert await outbox.row(by_key) == ("SENDING", None, None)


async def test_a_row_without_a_pilot_is_unknown_to_every_gateway(outbox):
    row = await outbox.sms(BWI, "sim-orphan")
    async with outbox.db.write() as s:
        (await s.get(Notification, row)).pilot_id = None
    assert (await post(outbox.http, {"message_id": "sim-orphan", "status": "DELIVERED"})).status_code == 404
    assert await outbox.row(row) == ("SENT", None, "sim-orphan")


async def test_the_audit_row_names_the_notification_and_its_purpose(outbox):
    row = await outbox.sms(BWI, "sim-audit")
    assert (await post(outbox.http, {"message_id": "sim-audit", "status": "DELIVERED"})).status_code == 200
    async with outbox.db.read() as s:
        [event] = (await s.execute(select(AuditEvent).where(AuditEvent.action == "NOTIFICATION_DELIVERY_REPORTED"))
                   ).scalars()
    assert (event.actor, event.actor_role, event.entity_type, event.entity_id, event.purpose, event.details) == (
        "gateway:sms", None, "notification", str(row), "notification", {"status": "DELIVERED"})
