"""GraphQL types and queries for registrants, households and registrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from perlinsos import policy
from perlinsos.policy import identifiers
from perlinsos.db import models
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.execution import context_resolver
from perlinsos.graphql.loaders import peek
from perlinsos.graphql.pilots.types import Pilot, Region, region
from perlinsos.graphql.relay import (
    to_global_id,
)
from perlinsos.graphql.util import then

if TYPE_CHECKING:
    from perlinsos.graphql.selection.types import Decision

DecisionRef = Annotated["Decision", strawberry.lazy("perlinsos.graphql.selection.types")]


RegistrationChannel = strawberry.enum(models.Channel, name="RegistrationChannel",
                                      description="SELF by the citizen, or ASSISTED by a facilitator (of a "
                                                  "registration, a consent or an appeal); VILLAGE_OFFICE: an "
                                                  "appeal the owner filed in person, recorded by a village "
                                                  "operator.")


@strawberry.type(description="A person as the population record (Dukcapil/IKD) has them.")
class Registrant:
    id: strawberry.ID
    nik: str = strawberry.field(description="In full only for the owner and reviewers of the region; else "
                                            "masked (3510********0001). Exposure rules: README, Privacy.")
    name: str
    birth_date: date | None = strawberry.field(
        description="Only for the owner and reviewers of the region (null for other viewers).")
    birth_year: int | None = strawberry.field(
        description="The birth year; for viewers without `birthDate` only for people born two or more "
                    "calendar years ago (a nearer year would narrow a masked NIK down).")
    sex: str | None
    region: Region = strawberry.field(description="The village; the kecamatan for staff whose scope does "
                                                  "not cover the village.")
    household_id: strawberry.Private[int | None]
    pilot_id: strawberry.Private[int | None] = None  # of the registration shown through (None: none)

    @strawberry.field(description="The family on the registrant's Kartu Keluarga.")
    def household(self, info: Info) -> Household | None:
        if self.household_id is None:
            return None
        c = ctx(info)
        return then(peek(c.loaders.household, self.household_id),
                    lambda row: Household.from_row(row, c, pilot_id=self.pilot_id))

    @classmethod
    def from_row(cls, row, c: Context, *, pilot_id: int | None = None) -> Registrant:
        if policy.records_access(c.principal, owner_nik=row.nik):
            c.record_access(row.id)
        # staff see a person as reviewers/facilitators of the pilot of the registration shown through
        shown = identifiers.show_person(c.principal, nik=row.nik, birth_date=row.birth_date, sex=row.sex,
                                        region_code=row.region_code, household_id=row.household_id,
                                        viewer_household_id=c.viewer_household_id, pilot_id=pilot_id)
        return cls(
            id=to_global_id("Registrant", row.id),
            nik=shown.nik,
            name=row.name,
            birth_date=shown.birth_date,
            birth_year=shown.birth_year,
            sex=shown.sex,
            region=region(shown.region_code),
            household_id=row.household_id,
            pilot_id=pilot_id,
        )


@strawberry.type(description="A family (Kartu Keluarga).")
class Household:
    id: strawberry.ID
    kk_number: str = strawberry.field(description="In full for the household's own members and reviewers of "
                                                   "the region; else masked.")
    region: Region
    db_id: strawberry.Private[int]
    pilot_id: strawberry.Private[int | None] = None  # as Registrant.pilot_id

    @strawberry.field(description="Members on the KK (NIKs masked by the same rule as registrants).")
    def members(self, info: Info) -> list[Registrant]:
        c = ctx(info)
        return then(peek(c.loaders.members, self.db_id),
                    lambda rows: [Registrant.from_row(r, c, pilot_id=self.pilot_id) for r in rows])

    @classmethod
    def from_row(cls, row, c: Context, *, pilot_id: int | None = None) -> Household | None:
        if row is None:
            return None
        shown = identifiers.show_household(c.principal, kk_number=row.kk_number, region_code=row.region_code,
                                           household_id=row.id, viewer_household_id=c.viewer_household_id,
                                           pilot_id=pilot_id)
        return cls(
            id=to_global_id("Household", row.id),
            kk_number=shown.kk_number,
            region=region(shown.region_code),
            db_id=row.id,
            pilot_id=pilot_id,
        )


@strawberry.type(description="A household's registration for one programme of one pilot.")
class Registration:
    id: strawberry.ID
    programme: str
    channel: RegistrationChannel
    assisted_by: str | None = strawberry.field(description="The facilitator who assisted, if any.")
    submitted_at: datetime
    region: Region
    row: strawberry.Private[Any]

    # The resolvers below are `context_resolver`s: the list's execution calls their function with
    # the context directly (no ResolveInfo); both paths run the same function.
    def _registrant(self, c: Context) -> Registrant:
        return then(peek(c.loaders.person, self.row.person_id),
                    lambda row: Registrant.from_row(row, c, pilot_id=self.row.pilot_id))

    @strawberry.field
    @context_resolver(_registrant)
    def registrant(self, info: Info) -> Registrant:
        return self._registrant(ctx(info))

    def _household(self, c: Context) -> Household | None:
        return then(peek(c.loaders.household, self.row.household_id),
                    lambda row: Household.from_row(row, c, pilot_id=self.row.pilot_id))

    @strawberry.field
    @context_resolver(_household)
    def household(self, info: Info) -> Household | None:
        return self._household(ctx(info))

    @strawberry.field
    def pilot(self, info: Info) -> Pilot:
        return then(peek(ctx(info).loaders.pilot, self.row.pilot_id), Pilot.from_row)

    def _decision(self, c: Context):
        from perlinsos.graphql.selection.types import Decision

        return then(peek(c.loaders.current_decision, self.row.id), lambda row: Decision.from_row(row, c))

    @strawberry.field(description="The current decision (latest version), if selection has run.")
    @context_resolver(_decision)
    def decision(self, info: Info) -> DecisionRef | None:
        return self._decision(ctx(info))

    @strawberry.field(description="Every decision version, newest first.")
    def decision_history(self, info: Info) -> list[DecisionRef]:
        from perlinsos.graphql.selection.types import Decision

        c = ctx(info)
        return then(peek(c.loaders.decision_history, self.row.id), lambda rows: [Decision.from_row(r, c) for r in rows])

    @classmethod
    def from_row(cls, row) -> Registration:
        return cls(
            id=to_global_id("Registration", row.id),
            programme=row.programme,
            channel=RegistrationChannel(row.channel),
            assisted_by=row.assisted_by,
            submitted_at=row.submitted_at,
            region=region(row.region_code),
            row=row,
        )
