"""GraphQL for consent: the type, and giving and withdrawing it (errors as data)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from perlinsos import idempotency

from perlinsos.identity import auth
from perlinsos.registration import consent, requirements
from perlinsos.errors import Problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.payloads import UserError
from perlinsos.db import models
from perlinsos.graphql.registration.types import RegistrationChannel
from perlinsos.graphql.relay import from_global_id, to_global_id
from perlinsos.problems import problem


@strawberry.type(description="A citizen's consent to the platform reading their data for a purpose.")
class Consent:
    id: strawberry.ID
    scopes: list[str]
    purpose: str
    policy_version: str
    channel: RegistrationChannel
    assisted_by: str | None
    given_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    live: bool

    @classmethod
    def from_row(cls, row) -> Consent:
        return cls(
            id=to_global_id("Consent", row.id), scopes=list(row.scopes), purpose=row.purpose,
            policy_version=row.policy_version, channel=models.Channel(row.channel),
            assisted_by=row.assisted_by, given_at=row.given_at, expires_at=row.expires_at,
            withdrawn_at=row.withdrawn_at, live=consent.is_live(row),
        )


@strawberry.enum(description="A step of the pilot that reads data under a consent scope.")
class ConsentUse(Enum):
    REGISTRATION = requirements.REGISTRATION  # the population record, read when registering
    SELECTION = requirements.SELECTION  # facts the eligibility criteria read


@strawberry.type(description="Data a citizen may allow the platform to read in this pilot, and what they are told.")
class ConsentScope:
    code: str = strawberry.field(description="e.g. person, facts:income, or a plugin's own such as facts:land.")
    purpose: str
    text: str = strawberry.field(description="What the citizen is told, in the viewer's language.")
    needed_for: list[ConsentUse] = strawberry.field(
        default_factory=list, description="The steps that read data under this scope.")
    required_for_selection: bool = strawberry.field(
        default=False, description="Selection reads it: `registerHousehold` refuses a consent without it "
                                   "(CONSENT_INSUFFICIENT), as the decision could never be made.")


@strawberry.input(description="Consent a citizen gives; on a facilitator's phone add `citizenToken`.")
class GiveConsentInput:
    scopes: list[str] = strawberry.field(
        description="Codes from `consentScopes` (the pilot's): "
                    f"{', '.join(consent.SCOPES)}, and what the pilot's plugins declare.")
    purpose: str = consent.DEFAULT_PURPOSE
    policy_version: str = strawberry.field(description="Version of the privacy notice shown.")
    citizen_token: str | None = strawberry.field(
        default=None, description="The assisted citizen's own IKD token (facilitators only)."
    )
    consent_token: str | None = strawberry.field(
        default=None, description="Citizens signed in with a regional provider: their own token from the "
                                  "national provider (IKD), which grants the consent and confirms their NIK.")
    client_key: str | None = strawberry.field(default=None, description=idempotency.DESCRIPTION)


@strawberry.type
class ConsentQueries:
    @strawberry.field(description="The scopes a citizen may consent to in the request's pilot (empty without one).")
    async def consent_scopes(self, info: Info) -> list[ConsentScope]:
        c = ctx(info)
        if c.hooks is None:
            return []
        found = await consent.available_scopes(c.hooks)
        selection = requirements.selection_scopes(found)
        return [ConsentScope(code=s.code, purpose=s.purpose, text=s.text.get(c.language) or s.text["id"],
                             needed_for=[ConsentUse(u) for u in requirements.needed_for(s.code)],
                             required_for_selection=s.code in selection)
                for s in found.values()]


@strawberry.type
class ConsentPayload:
    consent: Consent | None
    errors: list[UserError]


@strawberry.type
class ConsentMutations:
    @strawberry.mutation(description="Give consent to data access (the citizen's own IKD identity).")
    async def give_consent(self, info: Info, input: GiveConsentInput) -> ConsentPayload:
        c = ctx(info)
        try:
            actor = await auth.acting(c.db, c.hooks, c.principal, c.token, input.citizen_token,
                                      allow_unconfirmed=True)

            async def work():
                row = await consent.give(c.db, c.hooks, actor, scopes=input.scopes, purpose=input.purpose,
                                         policy_version=input.policy_version, consent_token=input.consent_token)
                return row.id, None

            asked = {"scopes": input.scopes, "purpose": input.purpose, "policy": input.policy_version,
                     "citizen": list(actor.citizen.identity)}
            done = await idempotency.once(c.db, c.principal, input.client_key, "giveConsent", asked, work)
            async with c.db.read() as session:
                row = await session.get(models.Consent, done.entity_id)
        except Problem as p:
            return ConsentPayload(consent=None, errors=[UserError.of(p, c.language)])
        return ConsentPayload(consent=Consent.from_row(row), errors=[])

    @strawberry.mutation(description="Withdraw a consent; nothing is read under it afterwards.")
    async def withdraw_consent(self, info: Info, id: strawberry.ID) -> ConsentPayload:
        c = ctx(info)
        try:
            actor = await auth.acting(c.db, c.hooks, c.principal, c.token, None)
            try:
                consent_id = from_global_id("Consent", id)
            except Exception:  # noqa: BLE001 - a malformed id is just "not found" for the user
                raise problem("CONSENT_NOT_FOUND") from None
            row = await consent.withdraw(c.db, c.hooks, actor.citizen, consent_id)
        except Problem as p:
            return ConsentPayload(consent=None, errors=[UserError.of(p, c.language)])
        return ConsentPayload(consent=Consent.from_row(row), errors=[])
