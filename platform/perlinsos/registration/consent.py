"""Consent to access personal data: given by the citizen (on their phone or a facilitator's),
recorded with who, when, how and under which policy, withdrawable. Nothing personal is fetched
without a live consent.
"""

from __future__ import annotations

import asyncio

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit, idnumbers, policy, ratelimits
from perlinsos import scopes as scope_catalogue
from perlinsos.contract import CONSENT, PERSON, ConsentGrant, ConsentScope, PersonRecord, Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Consent, IdentityLink, Person
from perlinsos.db.types import utcnow
from perlinsos.errors import AuthenticationFailed, ConfigurationError, ConsentInvalid, SourceUnavailable
from perlinsos.identity.auth import Actor, authenticate
from perlinsos.identity.trust import PilotTrust
from perlinsos.registration import people
from perlinsos.plugins import PilotHooks
from perlinsos.problems import problem

#: The platform's own scopes (plugins declare more: :func:`available_scopes`).
SCOPES = tuple(scope_catalogue.BUILTIN)
PURPOSES = ("bansos-selection",)
PERSON_SCOPE = "person"
DEFAULT_PURPOSE = "bansos-selection"


async def live_consent_by_nik(session: AsyncSession, nik: str, scope: str,
                              purpose: str = DEFAULT_PURPOSE) -> Consent | None:
    """As :func:`live_consent`, found by NIK in one query (no person lookup first)."""
    rows = (
        await session.execute(
            select(Consent).join(Person, Person.id == Consent.person_id)
            .where(Person.nik == nik, Consent.purpose == purpose, Consent.withdrawn_at.is_(None))
            .order_by(Consent.given_at.desc())
        )
    ).scalars()
    now = utcnow()
    return next((r for r in rows if scope in r.scopes and is_live(r, now)), None)


def as_grant(row: Consent, nik: str) -> ConsentGrant:
    return ConsentGrant(
        nik=nik, scopes=tuple(row.scopes), purpose=row.purpose, policy_version=row.policy_version,
        given_at=row.given_at, expires_at=row.expires_at, reference=row.provider_reference,
        issuer=row.provider_issuer,
    )


def is_live(row: Consent, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return row.withdrawn_at is None and (row.expires_at is None or row.expires_at > now)


async def live_consent(session: AsyncSession, person_id: int, scope: str,
                       purpose: str = DEFAULT_PURPOSE) -> Consent | None:
    """The newest live consent of ``person_id`` covering ``scope`` for ``purpose``."""
    rows = (
        await session.execute(
            select(Consent).where(Consent.person_id == person_id, Consent.purpose == purpose,
                                  Consent.withdrawn_at.is_(None)).order_by(Consent.given_at.desc())
        )
    ).scalars()
    now = utcnow()
    return next((r for r in rows if scope in r.scopes and is_live(r, now)), None)


async def available_scopes(hooks: PilotHooks) -> dict[str, ConsentScope]:
    """The scopes a citizen may consent to in this pilot: the platform's and its plugins'."""
    found, problems = scope_catalogue.merge(hooks.sync_results("consent_scopes"))
    if problems:
        raise ConfigurationError("; ".join(f"{where}: {message}" for where, message in problems))
    return found


def _for_grants_of(trust: PilotTrust, capability: str, issuer: str | None):
    """Which plugins may receive what ``issuer`` issued: the ones bound to it for ``capability``;
    a grant of no provider goes only to plugins bound to none (they never see a provider's grant)."""
    if issuer is not None:
        allowed = trust.plugins_for(capability, issuer)
        return lambda plugin: plugin in allowed
    bound = trust.bound_plugins(capability)
    return lambda plugin: plugin not in bound


async def fetch_person(hooks: PilotHooks, nik: str, grant: ConsentGrant) -> PersonRecord:
    """The population record under ``grant``, or a :class:`Problem` a person understands. Only
    the plugins of the provider that issued the grant are asked."""
    if not grant.allows(PERSON_SCOPE):
        raise problem("CONSENT_REQUIRED")
    trust = await hooks.trust()
    if grant.issuer is not None and not trust.plugins_for(PERSON, grant.issuer):
        # Given through a provider this pilot does not (or no longer) trust: nobody here may
        # read under it, so it is as good as ended; a new consent goes through a trusted one.
        raise problem("CONSENT_INVALID")
    only = _for_grants_of(trust, PERSON, grant.issuer)
    try:
        record = await hooks.first("fetch_person", only=only, nik=nik, consent=grant)
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    except ConsentInvalid:
        raise problem("CONSENT_INVALID") from None
    if record is None:
        raise problem("PERSON_UNKNOWN")
    # A record that does not fit the rules is refused before anything of it is stored.
    if record.nik != nik:
        raise problem("NIK_INVALID")
    try:
        idnumbers.parse_kk(record.kk_number)
    except idnumbers.InvalidKk:
        raise problem("KK_INVALID") from None
    return record


def check_facilitator(actor: Actor, region_code: str, pilot_code: str) -> None:
    """An assisting facilitator acts only inside the villages assigned to them."""
    if actor.facilitator is not None and not policy.facilitator_covers(actor.facilitator, region_code, pilot_code):
        raise problem("FACILITATOR_OUT_OF_AREA")


async def give(db: Database, hooks: PilotHooks, actor: Actor, *, scopes: Sequence[str], purpose: str,
               policy_version: str, consent_token: str | None = None) -> Consent:
    """Obtain a grant from the identity provider, read the person under it, record both.

    A citizen signed in with a regional provider consents through a national one (IKD), with
    their own token there (``consent_token``); its NIK must be the one their sign-in claims, and
    the platform then links the two identities (the regional NIK claim is confirmed).

    External calls happen before the write transaction, so no database lock is held while the
    identity provider answers; a failure anywhere stores nothing.
    """
    scopes = tuple(dict.fromkeys(scopes))
    known = await available_scopes(hooks)
    if not scopes or any(s not in known for s in scopes):
        unknown = [s for s in scopes if s not in known]
        raise problem("SCOPE_UNKNOWN", field="scopes", **({"scopes": ", ".join(unknown)[:200]} if unknown else {}))
    if purpose not in PURPOSES:
        raise problem("PURPOSE_INVALID", field="purpose")
    if not policy_version or len(policy_version) > 20:
        raise problem("INPUT_INVALID", field="policyVersion")
    trust = await hooks.trust()
    token, nik, link = await _consenting(db, hooks, trust, actor, consent_token)
    # Counted before the provider is asked (each grant is a paid call) and before a repeat's audit row.
    await ratelimits.consume(db, hooks.pilot, "consent", actor)
    async with db.read() as session:
        person = await people.person_by_nik(session, nik)
        existing = await live_consent(session, person.id, scopes[0], purpose) if person is not None else None
    if existing and set(scopes) <= set(existing.scopes) and existing.policy_version == policy_version:
        return await _repeat(db, hooks, actor, person, existing, nik, link)
    token_issuer = link[1] if link else actor.citizen.issuer
    try:
        # The provider of the token grants consent; a token of a provider no plugin declares
        # consent for goes to the plugins bound to none (a region's own consent service).
        issuer = token_issuer if trust.plugins_for(CONSENT, token_issuer) else None
        plugin, grant = await hooks.first_with_plugin(
            "grant_consent", only=_for_grants_of(trust, CONSENT, issuer), token=token, nik=nik, scopes=scopes,
            purpose=purpose, policy_version=policy_version)
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    except ConsentInvalid:
        raise problem("SCOPE_NOT_GRANTABLE", field="scopes") from None
    if grant is None:
        raise problem("IDENTITY_PROVIDER_UNSUPPORTED")
    # The grant is the provider's its plugin speaks for; a plugin bound to none issues provider-less grants.
    bound = plugin in trust.plugins_for(CONSENT, token_issuer)
    grant = replace(grant, issuer=token_issuer if bound else None)
    try:
        record = await fetch_person(hooks, nik, grant) if PERSON_SCOPE in scopes else None
        if actor.facilitator is not None:
            if record is None:
                raise problem("CONSENT_REQUIRED", field="scopes")
            check_facilitator(actor, record.region_code, hooks.pilot.code)
        for attempt in range(2):
            try:
                return await _store(db, actor, nik, record, grant, purpose, policy_version, link)
            except IntegrityError:
                # Another member of the household consented at the same moment (PostgreSQL): both
                # inserted its KK and members; the loser now finds them stored and updates them.
                if attempt:
                    raise
        raise AssertionError("unreachable")
    except BaseException:
        # Nothing was stored: the grant the provider made must not stay live there (best effort,
        # shielded so a cancelled request still revokes it).
        await asyncio.shield(hooks.notify("revoke_consent", only=_for_grants_of(trust, CONSENT, grant.issuer),
                                          consent=grant))
        raise


async def _repeat(db: Database, hooks: PilotHooks, actor: Actor, person: Person, existing: Consent, nik: str,
                  link: tuple[str, str] | None) -> Consent:
    """A double tap: the same consent, not a second one — with the same rules and trail as a first:
    a facilitator outside the citizen's village is refused, and the repeat is audited. A regional
    sign-in that just proved this NIK with its IKD token is still linked (its citizen consented
    through IKD before)."""
    check_facilitator(actor, person.region_code, hooks.pilot.code)
    async with db.write() as session:
        if link is not None:
            await _link(session, actor.citizen, nik, link[1])
        await audit.record_change(session, actor.facilitator or actor.citizen, action="CONSENT_REPEATED",
                                  entity_type="consent", entity_id=existing.id, subject_person_id=person.id,
                                  details={"scopes": list(existing.scopes), "purpose": existing.purpose,
                                           "channel": actor.channel.value})
    return existing


async def _consenting(db: Database, hooks: PilotHooks, trust: PilotTrust, actor: Actor,
                      consent_token: str | None) -> tuple[str, str, tuple[str, str] | None]:
    """The token consent is given with, the NIK, and — for a regional sign-in — the national
    identity that confirms the NIK: ``(national subject, national issuer)``."""
    citizen = actor.citizen
    if trust.is_national(citizen.issuer) and citizen.nik:
        return actor.citizen_token, citizen.nik, None
    if not consent_token:
        raise problem("CONSENT_TOKEN_REQUIRED", field="consentToken")
    try:
        async with db.read() as session:
            national = await authenticate(consent_token, hooks, session)
    except AuthenticationFailed:
        raise problem("CONSENT_TOKEN_INVALID", field="consentToken") from None
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    claimed = citizen.nik or citizen.claimed_nik
    if (national is None or not national.is_citizen or not national.nik or not trust.is_national(national.issuer)
            or not trust.plugins_for(CONSENT, national.issuer) or national.nik != claimed):
        raise problem("CONSENT_TOKEN_INVALID", field="consentToken")
    return consent_token, national.nik, (national.subject, national.issuer)


async def _link(session: AsyncSession, citizen: Principal, nik: str, confirmed_by: str) -> None:
    """Remember that a national provider confirmed this regional identity's NIK."""
    row = (await session.execute(select(IdentityLink).where(IdentityLink.issuer == citizen.issuer,
                                                            IdentityLink.subject == citizen.subject))).scalar_one_or_none()
    if row is not None and row.nik == nik:
        return
    if row is None:
        row = IdentityLink(issuer=citizen.issuer, subject=citizen.subject, nik=nik, confirmed_by=confirmed_by)
        session.add(row)
    else:
        row.nik, row.confirmed_by = nik, confirmed_by
    await session.flush()
    await audit.record_change(session, citizen, action="IDENTITY_LINKED", entity_type="identity_link",
                              entity_id=row.id, details={"confirmed_by": confirmed_by})


async def _store(db: Database, actor: Actor, nik: str, record: PersonRecord | None, grant: ConsentGrant,
                 purpose: str, policy_version: str, link: tuple[str, str] | None = None) -> Consent:
    async with db.write() as session:
        if link is not None:
            await _link(session, actor.citizen, nik, link[1])
        person = await people.upsert_person(session, record) if record else await people.person_by_nik(session, nik)
        if person is None:
            raise problem("CONSENT_REQUIRED", field="scopes")  # first consent must include "person"
        row = Consent(
            person_id=person.id, scopes=list(grant.scopes), purpose=purpose, policy_version=policy_version,
            channel=actor.channel, actor=actor.citizen.subject, actor_issuer=actor.citizen.issuer,
            assisted_by=actor.assisted_by, assisted_by_issuer=actor.assisted_by_issuer,
            provider_reference=grant.reference, provider_issuer=grant.issuer, given_at=utcnow(), expires_at=grant.expires_at,
        )
        session.add(row)
        await session.flush()
        await audit.record_change(session, actor.facilitator or actor.citizen, action="CONSENT_GIVEN",
                                  entity_type="consent", entity_id=row.id, subject_person_id=person.id,
                                  details={"scopes": list(grant.scopes), "purpose": purpose,
                                           "channel": actor.channel.value})
    return row


async def end_refused_grant(db: Database, consent_id: int, person_id: int) -> None:
    """The identity provider no longer honours this consent's grant (revoked or expired there):
    end it here too, so the citizen's next ``giveConsent`` asks for a new grant instead of
    returning the dead one as a double tap."""
    async with db.write() as session:
        row = await session.get(Consent, consent_id)
        if row is not None and row.withdrawn_at is None:
            row.withdrawn_at = utcnow()
            await audit.record_change(session, None, actor="system:identity", action="CONSENT_ENDED_BY_PROVIDER", entity_type="consent",
                                      entity_id=row.id, subject_person_id=person_id)


async def withdraw(db: Database, hooks: PilotHooks, citizen: Principal, consent_id: int) -> Consent:
    """Withdraw at once on the platform; tell the identity provider after commit (best effort)."""
    async with db.write() as session:
        row = (
            await session.execute(
                select(Consent).join(Person, Person.id == Consent.person_id)
                .where(Consent.id == consent_id, Person.nik == citizen.nik)
            )
        ).scalar_one_or_none()
        if row is None:
            raise problem("CONSENT_NOT_FOUND")  # someone else's consent does not exist for you
        if row.withdrawn_at is None:
            row.withdrawn_at = utcnow()
            await audit.record_change(session, citizen, action="CONSENT_WITHDRAWN", entity_type="consent",
                                      entity_id=row.id, subject_person_id=row.person_id)
    grant = as_grant(row, citizen.nik)
    await hooks.notify("revoke_consent", only=_for_grants_of(await hooks.trust(), CONSENT, grant.issuer), consent=grant)
    return row
