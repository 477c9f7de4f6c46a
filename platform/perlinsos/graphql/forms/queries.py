"""Queries a frontend builds its forms from: appeal grounds (for a decision: which of its reasons
each applies to), evidence kinds and programmes (empty without a pilot, `X-Perlinsos-Pilot`), and
the facts a reviewer may correct."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from perlinsos.appeals import forms
from perlinsos.db.types import utcnow
from perlinsos.errors import Problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import PublicError
from perlinsos.graphql.forms.types import AppealGround, CorrectedFactField, EvidenceKind, Programme
from perlinsos.graphql.relay import from_global_id
from perlinsos.pilots import programmes
from perlinsos.problems import problem


def _decision_id(value: strawberry.ID) -> int:
    try:
        return from_global_id("Decision", value)
    except Exception:  # noqa: BLE001 - a malformed id is "not found" for the user
        raise problem("DECISION_NOT_FOUND", field="decision") from None


@strawberry.type
class FormQueries:
    @strawberry.field(description="The grounds an appeal may be filed on in the request's pilot. With `decision` "
                                  "(one the viewer may see), `appliesTo` names which of its reasons each ground may "
                                  "dispute.")
    async def appeal_grounds(self, info: Info, decision: strawberry.ID | None = None) -> list[AppealGround]:
        c = ctx(info)
        if c.hooks is None:
            return []
        try:
            disputable = None if decision is None else await forms.decision_reasons(
                c.db, c.principal, c.hooks.pilot.id, _decision_id(decision))
        except Problem as p:
            raise PublicError(p.message(c.language), p.code) from None
        found = await forms.ground_forms(c.hooks, c.settings.max_evidence_bytes, disputable)
        return [AppealGround.of(g, c.language) for g in found]

    @strawberry.field(description="The evidence kinds `POST /evidence` accepts in the request's pilot.")
    async def evidence_kinds(self, info: Info) -> list[EvidenceKind]:
        c = ctx(info)
        if c.hooks is None:
            return []
        return [EvidenceKind.of(k, c.language) for k in await forms.evidence_kinds(c.hooks, c.settings.max_evidence_bytes)]

    @strawberry.field(description="The programmes of the request's pilot.")
    def programmes(self, info: Info) -> list[Programme]:
        c = ctx(info)
        if c.hooks is None:
            return []
        return [Programme.of(p, c.language) for p in programmes.of_pilot(c.hooks.pilot, utcnow())]

    @strawberry.field(description="The facts a reviewer may correct when upholding an appeal "
                                  "(`ResolveAppealInput.correctedFacts`), typed and labelled.")
    def corrected_fact_fields(self, info: Info) -> list[CorrectedFactField]:
        return [CorrectedFactField.of(f, ctx(info).language) for f in forms.corrected_facts()]
