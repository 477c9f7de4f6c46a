"""GraphQL for registering a household (self or assisted), errors as data."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from perlinsos import idempotency
from perlinsos.db import models

from perlinsos.identity import auth
from perlinsos.registration import service as registration
from perlinsos.errors import Problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.payloads import UserError
from perlinsos.graphql.registration.types import Registration


@strawberry.input(description="Register the signed-in citizen's household in the request's pilot.")
class RegisterHouseholdInput:
    programme: str = strawberry.field(description="PKH, SEMBAKO or PBI_JK (as the pilot offers).")
    citizen_token: str | None = strawberry.field(
        default=None, description="On a facilitator's phone: the citizen's own IKD token."
    )
    client_key: str | None = strawberry.field(default=None, description=idempotency.DESCRIPTION)


@strawberry.type
class RegisterHouseholdPayload:
    registration: Registration | None
    created: bool = strawberry.field(description="False when this returns an earlier, identical registration.")
    errors: list[UserError]


@strawberry.type
class RegistrationMutations:
    @strawberry.mutation(description="Register a household; re-submitting returns the same registration. Every "
                                     "problem is reported at once; a consent lacking a scope selection needs "
                                     "(`consentScopes.requiredForSelection`) is refused: CONSENT_INSUFFICIENT.")
    async def register_household(self, info: Info, input: RegisterHouseholdInput) -> RegisterHouseholdPayload:
        c = ctx(info)
        try:
            actor = await auth.acting(c.db, c.hooks, c.principal, c.token, input.citizen_token)

            async def work():
                result = await registration.register(c.db, c.hooks, actor, programme=input.programme)
                return result.registration.id, {"created": result.created}

            asked = {"programme": input.programme, "citizen": list(actor.citizen.identity)}
            done = await idempotency.once(c.db, c.principal, input.client_key, "registerHousehold", asked, work)
            async with c.db.read() as session:
                row = await session.get(models.Registration, done.entity_id)
        except Problem as p:
            return RegisterHouseholdPayload(registration=None, created=False, errors=UserError.all_of(p, c.language))
        # a replay answers what the first request did (created as it was then)
        return RegisterHouseholdPayload(registration=Registration.from_row(row), created=done.response["created"],
                                        errors=[])
