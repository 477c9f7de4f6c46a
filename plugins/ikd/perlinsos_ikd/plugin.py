"""Hook implementations of the IKD plugin: sign-in, consent and the consented person data."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from perlinsos import hookimpl
from perlinsos.contract import CAPABILITIES, ConsentGrant, HouseholdMember, IdentityProvider, PersonRecord, Principal
from perlinsos.errors import AuthenticationFailed, ConsentInvalid, SourceUnavailable
from perlinsos_ikd import client, tokens
from perlinsos_ikd.settings import IkdSettings

NAME = "ikd"
log = logging.getLogger("perlinsos_ikd")


def settings_of(pilot: Any) -> IkdSettings | None:
    settings = pilot.settings_for(NAME) if pilot is not None else None
    if isinstance(settings, Mapping):  # a PilotContext built by hand may carry the raw table
        settings = IkdSettings.model_validate(settings)
    return settings


@hookimpl
def plugin_settings_schema():
    return IkdSettings


@hookimpl
def identity_providers(pilot) -> list[IdentityProvider]:
    """IKD does everything for a pilot that enables it: sign-in, consent grants, the person record
    and (through the criteria plugin's facts API client) facts under its own grants."""
    settings = settings_of(pilot)
    if settings is None:
        return []
    return [IdentityProvider(issuer=settings.issuer, name="IKD (Dukcapil)", capabilities=frozenset(CAPABILITIES))]


@hookimpl
async def authenticate(token, pilot) -> Principal | None:
    settings = settings_of(pilot)
    if settings is None:
        return None
    return await tokens.authenticate(token, settings)


def _check_consent(nik: str, consent: ConsentGrant | None, scope: str) -> None:
    now = datetime.now(UTC)
    if (consent is None or consent.nik != nik or not consent.allows(scope)
            or (consent.expires_at is not None and _aware(consent.expires_at) <= now)):
        raise ConsentInvalid(f"no live consent with scope {scope!r} for this person")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@hookimpl
async def fetch_person(nik, consent, pilot) -> PersonRecord | None:
    settings = settings_of(pilot)
    if settings is None:
        return None
    _check_consent(nik, consent, "person")  # never ask IKD without a live grant
    if not consent.reference:
        return None  # a consent no identity provider issued a grant for: not IKD's to serve
    response = await client.request(
        "GET", f"{settings.api_base}/persons/{nik}", settings,
        headers=client.secret_headers(settings, **{"X-Consent-Grant": consent.reference}),
    )
    if response.status_code == 404:
        return None
    if response.status_code == 403:
        raise ConsentInvalid("IKD does not honour the consent grant (revoked or expired)")
    if response.status_code != 200:
        raise SourceUnavailable(client.SOURCE, f"person API: HTTP {response.status_code}")
    body = client.json_body(response)
    with client.malformed("person record"):
        if body["nik"] != nik:
            raise ValueError("another person's record")
        members = tuple(
            HouseholdMember(nik=m["nik"], name=m["name"], birth_date=date.fromisoformat(m["birth_date"]),
                            sex=m["sex"], relationship=m.get("relationship"))
            for m in body.get("members", ())
        )
        return PersonRecord(
            nik=body["nik"], name=body["name"], birth_date=date.fromisoformat(body["birth_date"]),
            sex=body["sex"], region_code=body["region_code"], kk_number=body["kk_number"],
            phone=body.get("phone"), address=body.get("address"), members=members,
        )


@hookimpl
async def grant_consent(token, nik, scopes, purpose, policy_version, pilot) -> ConsentGrant | None:
    settings = settings_of(pilot)
    if settings is None or tokens.unverified_issuer(token) != settings.issuer:
        return None  # another identity provider's citizen
    # The request's own key: if its answer is lost (a timeout, a connection cut after sending) IKD
    # may have created a grant the platform never learns the id of; it is revoked by this key.
    key = secrets.token_urlsafe(24)
    try:
        response = await client.request(
            "POST", f"{settings.api_base}/consents", settings,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            json={"scopes": list(scopes), "purpose": purpose, "policy_version": policy_version},
        )
        if response.status_code == 401:
            raise AuthenticationFailed(tokens.INVALID)
        if response.status_code == 400:  # e.g. invalid_scope: IKD grants no consent for a scope it does not know
            raise ConsentInvalid("IKD refused the consent request (a scope it cannot grant)")
        if response.status_code not in (200, 201):
            raise SourceUnavailable(client.SOURCE, f"consent refused: HTTP {response.status_code}")
        grant = client.json_body(response)
        with client.malformed("consent grant"):
            if grant["nik"] != nik:
                await _abandon(settings, key)
                raise ConsentInvalid("the consent was given by another person")
            expires = grant.get("expires_at")
            return ConsentGrant(
                nik=nik, scopes=tuple(grant["scopes"]), purpose=grant["purpose"], policy_version=policy_version,
                given_at=datetime.fromisoformat(grant["granted_at"]),
                expires_at=datetime.fromisoformat(expires) if expires else None, reference=grant["grant_id"],
                issuer=settings.issuer,
            )
    except SourceUnavailable:  # no answer, or not a usable one: the grant IKD may have made must not stay live
        await _abandon(settings, key)
        raise


async def _abandon(settings, key: str) -> None:
    """Revoke whatever grant the request with ``key`` created (IKD remembers a key it has no
    grant for yet, so a request still in flight creates none). Tried twice; if IKD cannot be
    reached, the key is logged (it is random, nothing personal) for the operator to revoke."""
    for attempt in (1, 2):
        try:
            response = await client.request("DELETE", f"{settings.api_base}/consents", settings,
                                            params={"idempotency_key": key}, headers=client.secret_headers(settings))
        except SourceUnavailable as exc:
            failure = str(exc)
        else:
            if response.status_code in (204, 404):
                return
            failure = f"HTTP {response.status_code}"
        if attempt == 1:
            await asyncio.sleep(0.2)
    log.warning("IKD consent request %s: its answer was lost and revoking it failed (%s); revoke it by this key",
                key, failure)


@hookimpl
async def revoke_consent(consent, pilot) -> None:
    settings = settings_of(pilot)
    if settings is None or not consent.reference:
        return
    response = await client.request("DELETE", f"{settings.api_base}/consents/{consent.reference}", settings,
                                    headers=client.secret_headers(settings))
    if response.status_code not in (204, 404):  # 404: unknown there, so nothing left to revoke
        raise SourceUnavailable(client.SOURCE, f"consent revocation: HTTP {response.status_code}")


@hookimpl
def register_commands(cli):
    from perlinsos_ikd.commands import ikd_sim

    cli.add_command(ikd_sim)
