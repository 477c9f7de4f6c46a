"""Answers the simulator never gives: values of the wrong shape, mismatched items, odd statuses.
The facts API's answer is replaced (``client.post_json``); everything else is the real plugin."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from perlinsos.contract import ConsentGrant
from perlinsos_criteria import client

from .helpers import FACT_NAMES, by_registrant, ref_of

PEOPLE = [{"nik": f"351015120380000{i}", "kk_number": f"351015010120000{i}", "region_code": "35.10.15.2004"}
          for i in (1, 2)]
FACTS = [
    {"name": "monthly_income", "scope": "facts:income", "source": "BPJS Ketenagakerjaan", "as_of": "2025-07-31",
     "value": 1_500_000, "members": {}},
    {"name": "bank_flags", "scope": "facts:bank", "source": "PPATK", "as_of": "2025-07-15", "value": [], "members": {}},
    {"name": "electricity_va", "scope": "facts:electricity", "source": "PLN", "as_of": "2025-08-01", "value": 900,
     "members": {}},
    {"name": "welfare_decile", "scope": "facts:welfare", "source": "DTSEN", "as_of": "2025-06-30", "value": 3,
     "members": {}},
    {"name": "state_employment", "scope": "facts:employment", "source": "BKN", "as_of": "2025-07-01", "value": [],
     "members": {}},
    {"name": "car_ownership", "scope": "facts:vehicles", "source": "Korlantas Polri", "as_of": "2025-06-30",
     "value": 0, "members": {}},
]


def consent(nik: str) -> ConsentGrant:
    return ConsentGrant(nik=nik, scopes=("person", "facts:income", "facts:bank", "facts:electricity", "facts:welfare",
                                         "facts:employment", "facts:vehicles"),
                        purpose="bansos-selection", policy_version="2025-08", given_at=datetime(2025, 8, 4, tzinfo=UTC),
                        reference=f"grant-{nik[-1]}")


REFS = [ref_of(p, i, consent(p["nik"])) for i, p in enumerate(PEOPLE, start=1)]


def item(person: dict[str, str], facts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"nik": person["nik"], "grant_id": f"grant-{person['nik'][-1]}", "kk_number": person["kk_number"],
            "facts": copy.deepcopy(FACTS if facts is None else facts)}


@pytest.fixture
def answer(monkeypatch):
    """``answer(response_or_body)``: what the facts API answers next; the requests sent are recorded."""
    sent: list[dict[str, Any]] = []

    def install(reply: Any) -> list[dict[str, Any]]:
        async def post_json(url, body, *, secret, timeout):
            sent.append({"url": url, "body": body, "secret": secret, "timeout": timeout})
            if isinstance(reply, BaseException):
                raise reply
            return reply if isinstance(reply, httpx.Response) else httpx.Response(200, json=reply)

        monkeypatch.setattr(client, "post_json", post_json)
        return sent

    return install


async def collect(hooks_for, refs=REFS, **settings):
    settings = {"facts_api_url": "https://ikd.example.go.id/api/", "client_secret": "rahasia"} | settings
    return by_registrant(await hooks_for(**settings).merged("collect_facts", registrants=refs))


def with_value(name: str, value: Any, **changes: Any) -> list[dict[str, Any]]:
    return [dict(f, value=value, **changes) if f["name"] == name else f for f in copy.deepcopy(FACTS)]


async def test_the_request(hooks_for, answer):
    sent = answer({"results": [item(p) for p in PEOPLE]})
    found = await collect(hooks_for, timeout_seconds=3)
    assert sent == [{"url": "https://ikd.example.go.id/api/facts", "secret": "rahasia", "timeout": 3.0,
                     "body": {"requests": [{"nik": p["nik"], "grant_id": f"grant-{p['nik'][-1]}"} for p in PEOPLE]}}]
    assert found[1]["welfare_decile"].value == 3 and found[1]["welfare_decile"].as_of == date(2025, 6, 30)


BAD_VALUES = [
    ("monthly_income", "3 juta"), ("monthly_income", -1), ("monthly_income", True), ("monthly_income", 1.5e6),
    ("monthly_income", None), ("electricity_va", 0), ("electricity_va", "900"), ("welfare_decile", 0),
    ("welfare_decile", 11), ("welfare_decile", 4.0), ("bank_flags", ["NARKOBA"]), ("bank_flags", "JUDI_ONLINE"),
    ("state_employment", ["PNS"]), ("state_employment", [None]), ("car_ownership", -2), ("car_ownership", "1"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
async def test_values_of_the_wrong_shape_are_invalid_data(hooks_for, answer, name, value):
    answer({"results": [item(PEOPLE[0], with_value(name, value)), item(PEOPLE[1])]})
    found = await collect(hooks_for)
    bad = found[1][name]
    assert (bad.value, bad.error, bad.source) == (None, "INVALID_DATA", FACTS[FACT_NAMES.index(name)]["source"])
    assert all(f.error is None for n, f in found[1].items() if n != name)  # the other facts still count
    assert all(f.error is None for f in found[2].values())


@pytest.mark.parametrize("changes", [{"as_of": "kemarin"}, {"as_of": None}, {"source": ""}, {"source": 7},
                                     {"as_of": (date.today() + timedelta(days=30)).isoformat()}])
async def test_a_fact_without_a_usable_source_or_date_is_invalid_data(hooks_for, answer, changes):
    answer({"results": [item(PEOPLE[0], with_value("electricity_va", 900, **changes)), item(PEOPLE[1])]})
    found = await collect(hooks_for)
    assert found[1]["electricity_va"].error == "INVALID_DATA" and found[1]["electricity_va"].value is None


async def test_missing_duplicated_and_foreign_facts(hooks_for, answer):
    no_car = [f for f in FACTS if f["name"] != "car_ownership"]
    doubled = [*FACTS, dict(FACTS[2], value=2200)]
    extra = [*FACTS, {"name": "land_m2", "source": "ATR/BPN", "as_of": "2025-08-01", "value": 500}]
    answer({"results": [item(PEOPLE[0], no_car + ["garbage"]), item(PEOPLE[1], doubled + extra[-1:])]})
    found = await collect(hooks_for)
    assert found[1]["car_ownership"].error == "SCOPE_NOT_GRANTED"  # not given: IKD gives only granted scopes
    assert found[2]["electricity_va"].error == "INVALID_DATA"  # 900 or 2,200? neither
    assert set(found[2]) == set(FACT_NAMES)  # a fact this plugin does not know is left out


@pytest.mark.parametrize(("reply", "code"), [
    ({"results": []}, "INVALID_RESPONSE"),
    ({"results": "none"}, "INVALID_RESPONSE"),
    ([1, 2], "INVALID_RESPONSE"),
    (httpx.Response(200, content=b"\xff\xfe not json"), "INVALID_RESPONSE"),
    (httpx.Response(302, headers={"Location": "https://elsewhere.example"}), "INVALID_RESPONSE"),
    (httpx.Response(401, json={"error": "invalid_client"}), "SOURCE_REFUSED"),
    (httpx.Response(400, json={"error": "bad_request"}), "SOURCE_REFUSED"),
    (httpx.Response(429), "SOURCE_UNAVAILABLE"),
    (httpx.Response(502), "SOURCE_UNAVAILABLE"),
    (httpx.ConnectError("refused"), "SOURCE_UNAVAILABLE"),
    (httpx.RemoteProtocolError("peer closed"), "SOURCE_UNAVAILABLE"),
    (httpx.ReadTimeout("slow"), "SOURCE_TIMEOUT"),
    (TimeoutError(), "SOURCE_TIMEOUT"),
])
async def test_whole_answers_that_are_not_the_api(hooks_for, answer, reply, code):
    answer(reply)
    found = await collect(hooks_for)
    assert {f.error for facts in found.values() for f in facts.values()} == {code}
    assert all(f.value is None for facts in found.values() for f in facts.values())


async def test_items_that_do_not_match_their_request(hooks_for, answer):
    swapped = [item(PEOPLE[1]), item(PEOPLE[0])]
    answer({"results": swapped})
    found = await collect(hooks_for)
    assert {f.error for facts in found.values() for f in facts.values()} == {"INVALID_RESPONSE"}

    answer({"results": [
        {"nik": PEOPLE[0]["nik"], "error": {"code": "RATE_LIMITED", "message": "coba lagi"}},  # a code of IKD's
        {"nik": PEOPLE[1]["nik"], "error": "<html>"},
    ]})
    found = await collect(hooks_for)
    assert {f.error for f in found[1].values()} == {"RATE_LIMITED"}
    assert {f.error for f in found[2].values()} == {"INVALID_RESPONSE"}

    answer({"results": [dict(item(PEOPLE[0]), facts={"a": 1}), None]})
    found = await collect(hooks_for)
    assert {f.error for facts in found.values() for f in facts.values()} == {"INVALID_RESPONSE"}
