"""GraphQL for appeals: filing (the NIK's owner, or a facilitator with the owner's token) and the
review workflow (the reviewers' list is in .queries). Resolvers only translate; the rules are in
perlinsos.appeals."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos.identity import auth
from perlinsos.appeals import filing, review
from perlinsos.db.models import Appeal as AppealRow
from perlinsos.errors import Problem
from perlinsos.graphql.appeals.types import Appeal, DecisionRef
from perlinsos.graphql.loaders import peek
from perlinsos.graphql.util import then
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.payloads import UserError
from perlinsos.graphql.relay import from_global_id
from perlinsos.problems import problem


@strawberry.input(description="A sanggah against a decision, by the owner of the NIK.")
class FileAppealInput:
    decision: strawberry.ID
    ground: str = strawberry.field(description="NIK_MISUSE, DATA_INCORRECT, CIRCUMSTANCES_CHANGED, ...")
    disputed_reasons: list[str]
    statement: str
    comparison_data: JSON = strawberry.field(description="Data pembanding, e.g. {meter_id, electricity_va}.")
    evidence: list[strawberry.ID] = strawberry.field(description="Ids returned by POST /evidence.")
    citizen_token: str | None = strawberry.field(default=None, description="Facilitators: the owner's IKD token.")


@strawberry.input
class ResolveAppealInput:
    appeal: strawberry.ID
    upheld: bool
    note: str
    corrected_facts: JSON | None = strawberry.field(
        default=None, description='When upheld: the facts as they truly are, e.g. {"electricity_va": 900}.')


@strawberry.type
class AppealPayload:
    appeal: Appeal | None
    errors: list[UserError]

    @strawberry.field(description="The decision now in force: after `resolveAppeal` upheld the appeal, the new one "
                                  "(as `appeal.resultingDecision`); otherwise the one appealed.")
    def decision(self, info: Info) -> DecisionRef | None:
        from perlinsos.graphql.selection.types import Decision

        if self.appeal is None:
            return None
        number = self.appeal.resulting_decision_id or self.appeal.decision_id
        return then(peek(ctx(info).loaders.decision, number), Decision.from_row)


def _id(kind: str, value: str) -> int:
    try:
        return from_global_id(kind, value)
    except Exception:  # noqa: BLE001 - a malformed id is "not found" for the user
        raise problem("APPEAL_NOT_FOUND" if kind == "Appeal" else "DECISION_NOT_FOUND") from None


async def _payload(c: Context, appeal_id: int) -> AppealPayload:
    async with c.db.read() as session:
        row = await session.get(AppealRow, appeal_id)
    return AppealPayload(appeal=Appeal.from_row(row), errors=[])


def _staff(c: Context):
    if c.principal is None:
        raise problem("UNAUTHENTICATED")
    if c.hooks is None:
        raise problem("PILOT_REQUIRED")
    return c.principal


@strawberry.type
class AppealMutations:
    @strawberry.mutation(description="File a sanggah with evidence and comparison data (`appealGrounds` describes "
                                     "the form). Every field at fault is reported at once, each with its `field`.")
    async def file_appeal(self, info: Info, input: FileAppealInput) -> AppealPayload:
        c = ctx(info)
        try:
            actor = await auth.acting(c.db, c.hooks, c.principal, c.token, input.citizen_token)
            if not isinstance(input.comparison_data, dict):
                raise problem("COMPARISON_DATA_INVALID", field="comparisonData")
            evidence = [from_global_id("EvidenceFile", e) for e in input.evidence]
            appeal = await filing.file_appeal(
                c.db, c.hooks, actor, decision_id=_id("Decision", input.decision), ground=input.ground,
                disputed=input.disputed_reasons, statement=input.statement, comparison=input.comparison_data,
                evidence_ids=evidence)
            return await _payload(c, appeal.id)
        except Problem as p:
            return AppealPayload(appeal=None, errors=UserError.all_of(p, c.language))

    @strawberry.mutation(description="A reviewer of the region takes an appeal into review.")
    async def claim_appeal(self, info: Info, id: strawberry.ID) -> AppealPayload:
        c = ctx(info)
        try:
            appeal_id = _id("Appeal", id)
            await review.claim(c.db, c.hooks, _staff(c), appeal_id)
            return await _payload(c, appeal_id)
        except Problem as p:
            return AppealPayload(appeal=None, errors=[UserError.of(p, c.language)])

    @strawberry.mutation(description="Uphold (with corrected facts: selection runs again) or dismiss.")
    async def resolve_appeal(self, info: Info, input: ResolveAppealInput) -> AppealPayload:
        c = ctx(info)
        try:
            appeal_id = _id("Appeal", input.appeal)
            facts = input.corrected_facts if isinstance(input.corrected_facts, dict) else None
            await review.resolve(c.db, c.hooks, _staff(c), appeal_id, upheld=input.upheld, note=input.note,
                                 corrected_facts=facts)
            return await _payload(c, appeal_id)
        except Problem as p:
            return AppealPayload(appeal=None, errors=[UserError.of(p, c.language)])

    @strawberry.mutation(description="The appellant withdraws their appeal.")
    async def withdraw_appeal(self, info: Info, id: strawberry.ID) -> AppealPayload:
        c = ctx(info)
        try:
            actor = await auth.acting(c.db, c.hooks, c.principal, c.token, None)
            appeal_id = _id("Appeal", id)
            await review.withdraw(c.db, c.hooks, actor.citizen, appeal_id)
            return await _payload(c, appeal_id)
        except Problem as p:
            return AppealPayload(appeal=None, errors=[UserError.of(p, c.language)])
