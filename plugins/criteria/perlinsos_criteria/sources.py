"""``collect_facts``: the registrants' facts from IKD's consented facts API (``POST /facts``).

One request per ``batch_size`` registrants with a consent grant; every answer is checked, and
whatever cannot be had — no consent, a refused item, a source that is down, slow or answers
garbage, a value of the wrong shape — becomes a ``Fact`` with ``value=None`` and an ``error``
code (``perlinsos_criteria.facts``). Nothing is raised for a failing source and no value is ever
made up: the criteria answer UNKNOWN and the decision waits (PENDING).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from perlinsos.contract import Fact, RegistrantRef
from perlinsos_criteria import client
from perlinsos_criteria import facts as F
from perlinsos_criteria.settings import CriteriaSettings, settings_of

log = logging.getLogger(__name__)

SOURCE = "IKD"  # who answers; each fact names its own source (PLN, DTSEN ...)
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")
_KNOWN_ITEM_ERRORS = frozenset({F.UNKNOWN_PERSON, F.CONSENT_INVALID, F.SCOPE_NOT_GRANTED})
Key = tuple[str, str]  # (NIK of the grant, grant id): one request item


@dataclass(frozen=True)
class Endpoint:
    url: str | None  # the /facts endpoint
    secret: str | None


def grant_issuer(pilot: Any) -> str | None:
    """Whose consent grants the facts API honours: the setting, else the pilot's IKD issuer."""
    settings = settings_of(pilot)
    if settings is not None and settings.grant_issuer:
        return settings.grant_issuer
    ikd = pilot.settings_for("ikd") if pilot is not None else None
    issuer = ikd.get("issuer") if isinstance(ikd, Mapping) else getattr(ikd, "issuer", None)
    return issuer if isinstance(issuer, str) and issuer else None


def endpoint(settings: CriteriaSettings, pilot: Any) -> Endpoint:
    """Where to ask and with which credential: the plugin's own settings, else the pilot's IKD ones."""
    ikd = pilot.settings_for("ikd") if pilot is not None else None
    if isinstance(ikd, Mapping):  # a raw table (a PilotContext built by hand)
        base = ikd.get("person_api_url") or ikd.get("issuer")
        secret = ikd.get("client_secret")
    else:
        base, secret = getattr(ikd, "api_base", None), getattr(ikd, "secret", None)
    if settings.facts_api_url is not None:
        base = str(settings.facts_api_url)
    if settings.client_secret is not None:
        secret = settings.client_secret.get_secret_value()
    if hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    url = f"{str(base).rstrip('/')}/facts" if isinstance(base, str) and base.strip() else None
    return Endpoint(url, secret if isinstance(secret, str) and secret else None)


def error_facts(ref: RegistrantRef, names: Iterable[str], error: str) -> list[Fact]:
    return [Fact(ref.registration_id, name, None, F.IKD_FACTS[name].source, error=error) for name in names]


async def collect(registrants: Sequence[RegistrantRef], pilot: Any) -> list[Fact]:
    settings = settings_of(pilot)
    now = datetime.now(UTC)
    found: list[Fact] = []
    wanted: dict[Key, list[tuple[RegistrantRef, list[str]]]] = {}
    for ref in registrants:
        problem = _consent_problem(ref, now)
        if problem is not None:
            found += error_facts(ref, F.IKD_FACTS, problem)
            continue
        assert ref.consent is not None and ref.consent.reference
        names = [name for name, spec in F.IKD_FACTS.items() if ref.consent.allows(spec.scope)]
        found += error_facts(ref, (n for n in F.IKD_FACTS if n not in names), F.SCOPE_NOT_GRANTED)
        if names:
            wanted.setdefault((ref.consent.nik, ref.consent.reference), []).append((ref, names))
    if not wanted:
        return found
    where = endpoint(settings, pilot)
    if where.url is None or where.secret is None:
        log.error("facts API not configured: set plugins.criteria.facts_api_url/client_secret or enable ikd "
                  "(%d registrants left pending)", sum(len(v) for v in wanted.values()))
        return found + [f for items in wanted.values() for ref, names in items
                        for f in error_facts(ref, names, F.SOURCE_NOT_CONFIGURED)]
    keys = list(wanted)
    batches = [keys[i:i + settings.batch_size] for i in range(0, len(keys), settings.batch_size)]
    answers = await asyncio.gather(*(_ask(where, batch, settings.timeout_seconds) for batch in batches))
    for batch, answer in zip(batches, answers, strict=True):
        for position, key in enumerate(batch):
            for ref, names in wanted[key]:
                if isinstance(answer, str):
                    found += error_facts(ref, names, answer)
                else:
                    found += _item_facts(ref, names, key, answer[position])
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _consent_problem(ref: RegistrantRef, now: datetime) -> str | None:
    consent = ref.consent
    if consent is None or not consent.reference:
        return F.NO_CONSENT
    if consent.nik != ref.nik and consent.nik not in ref.member_niks:
        return F.CONSENT_INVALID  # a grant of someone outside the household
    if consent.expires_at is not None and _aware(consent.expires_at) <= now:
        return F.CONSENT_INVALID
    return None


async def _ask(where: Endpoint, batch: list[Key], timeout: float) -> list[Any] | str:
    """The API's result items for ``batch`` in order, or the error code for the whole batch."""
    body = {"requests": [{"nik": nik, "grant_id": grant} for nik, grant in batch]}
    assert where.url is not None and where.secret is not None
    try:
        response = await client.post_json(where.url, body, secret=where.secret, timeout=timeout)
    except (TimeoutError, httpx.TimeoutException):
        return _failed(F.SOURCE_TIMEOUT, f"no answer within {timeout:g} s", len(batch))
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return _failed(F.SOURCE_UNAVAILABLE, type(exc).__name__, len(batch))
    if response.status_code >= 500 or response.status_code == 429:
        return _failed(F.SOURCE_UNAVAILABLE, f"HTTP {response.status_code}", len(batch))
    if response.status_code != 200:
        code = F.SOURCE_REFUSED if 400 <= response.status_code < 500 else F.INVALID_RESPONSE
        return _failed(code, f"HTTP {response.status_code}", len(batch))
    try:
        results = response.json().get("results")
    except (ValueError, AttributeError):  # not JSON (ValueError covers decode errors) or not an object
        return _failed(F.INVALID_RESPONSE, "the answer is not a JSON object", len(batch))
    if not isinstance(results, list) or len(results) != len(batch):
        return _failed(F.INVALID_RESPONSE, "the answer has no result per request", len(batch))
    return results


def _failed(code: str, why: str, count: int) -> str:
    log.warning("facts API (%s): %s — %s; %d requests left pending", SOURCE, code, why, count)
    return code


def _item_facts(ref: RegistrantRef, names: list[str], key: Key, item: Any) -> list[Fact]:
    if not isinstance(item, Mapping) or item.get("nik") != key[0]:
        log.warning("facts API (%s): result for registration %s does not match its request", SOURCE,
                    ref.registration_id)
        return error_facts(ref, names, F.INVALID_RESPONSE)
    if "error" in item:
        error = item["error"]
        code = error.get("code") if isinstance(error, Mapping) else None
        if not isinstance(code, str) or not _CODE.match(code):
            code = F.INVALID_RESPONSE
        elif code not in _KNOWN_ITEM_ERRORS:
            log.warning("facts API (%s): unexpected item error %s", SOURCE, code)
        return error_facts(ref, names, code)
    kk_number = item.get("kk_number")
    if kk_number is not None and ref.kk_number and kk_number != ref.kk_number:
        return error_facts(ref, names, F.HOUSEHOLD_MISMATCH)
    records = item.get("facts")
    if not isinstance(records, list):
        return error_facts(ref, names, F.INVALID_RESPONSE)
    by_name: dict[str, Any] = {}
    for record in records:
        name = record.get("name") if isinstance(record, Mapping) else None
        if isinstance(name, str) and name in names:
            by_name[name] = None if name in by_name else record  # twice: ambiguous, so invalid
    return [_fact(ref, F.IKD_FACTS[name], by_name[name]) if name in by_name
            else Fact(ref.registration_id, name, None, F.IKD_FACTS[name].source, error=F.SCOPE_NOT_GRANTED)
            for name in names]


def _fact(ref: RegistrantRef, spec: F.FactSpec, record: Mapping[str, Any] | None) -> Fact:
    source, as_of = spec.source, None
    try:
        if record is None:
            raise ValueError("the fact is given twice")
        given = record.get("source")
        if not isinstance(given, str) or not 0 < len(given.strip()) <= 100:
            raise ValueError("no source named")
        source = given.strip()
        if not isinstance(record.get("as_of"), str):
            raise ValueError("no as-of date")
        as_of = date.fromisoformat(record["as_of"])
        if as_of > date.today() + timedelta(days=1):
            raise ValueError("as-of date in the future")
        value = spec.check(record.get("value"))
    except ValueError as exc:
        log.warning("facts API (%s): invalid %s for registration %s: %s", SOURCE, spec.name,
                    ref.registration_id, exc)
        return Fact(ref.registration_id, spec.name, None, source, as_of, error=F.INVALID_DATA)
    return Fact(ref.registration_id, spec.name, value, source, as_of)
