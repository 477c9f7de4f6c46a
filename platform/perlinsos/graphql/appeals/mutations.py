"""GraphQL for appeals: filing (the NIK's owner, or a facilitator with the owner's token) and the
review workflow (the reviewers' list is in .queries). Resolvers only translate; the rules are in
perlinsos.appeals."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos.identity import auth
from perlinsos import idempotency
from perlinsos.appeals import filing, in_person, review
from perlinsos.db.models import Appeal as AppealRow
from perlinsos.errors import Problem
from perlinsos.graphql.appeals.types import Appeal, DecisionRef
from perlinsos.graphql.loaders import peek
from perlinsos.graphql.util import then
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.payloads import UserError
from perlinsos.graphql.relay import from_global_id
from perlinsos.problems import problem


CLIENT_KEY = idempotency.DESCRIPTION


@strawberry.input(description="A sanggah against a decision, by the owner of the NIK.")
class FileAppealInput:
    decision: strawberry.ID
    ground: str = strawberry.field(description="NIK_MISUSE, DATA_INCORRECT, CIRCUMSTANCES_CHANGED, ...")
    disputed_reasons: list[str]
    statement: str
    comparison_data: JSON = strawberry.field(description="Data pembanding, e.g. {meter_id, electricity_va}.")
    evidence: list[strawberry.ID] = strawberry.field(description="Ids returned by POST /evidence.")
    citizen_token: str | None = strawberry.field(default=None, description="Facilitators: the owner's IKD token.")
    client_key: str | None = strawberry.field(default=None, description=CLIENT_KEY)


@strawberry.input(description="What the village operator saw at the counter (their word; no image is taken).")
class IdentityCheckInput:
    owner_present: bool = strawberry.field(description="The NIK owner is present in person.")
    ktp_seen: bool = strawberry.field(description="The owner's KTP was checked (counts as KTP evidence).")
    kk_seen: bool = False
    documents_seen: list[str] = strawberry.field(
        default_factory=list, description="Evidence kinds (evidenceKinds) seen as originals; they count as the "
                                          "ground's required evidence.")


@strawberry.input(description="A sanggah the NIK owner brings in person to the village office, recorded by a "
                              "village operator of that village for the owner only.")
class FileAppealInPersonInput:
    nik: str = strawberry.field(description="The NIK on the KTP of the person at the counter.")
    kk: str = strawberry.field(description="Their family card (KK) number; must match the record.")
    decision: strawberry.ID
    ground: str
    disputed_reasons: list[str]
    statement: str
    comparison_data: JSON
    identity_check: IdentityCheckInput
    client_key: str | None = strawberry.field(default=None, description=CLIENT_KEY)


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
            decision_id = _id("Decision", input.decision)

            async def work():
                appeal = await filing.file_appeal(
                    c.db, c.hooks, actor, decision_id=decision_id, ground=input.ground,
                    disputed=input.disputed_reasons, statement=input.statement, comparison=input.comparison_data,
                    evidence_ids=evidence)
                return appeal.id, None

            asked = {"decision": decision_id, "ground": input.ground, "disputed": input.disputed_reasons,
                     "statement": input.statement, "comparison": input.comparison_data, "evidence": evidence,
                     "citizen": list(actor.citizen.identity)}
            done = await idempotency.once(c.db, c.principal, input.client_key, "fileAppeal", asked, work)
            return await _payload(c, done.entity_id)
        except Problem as p:
            return AppealPayload(appeal=None, errors=UserError.all_of(p, c.language))

    @strawberry.mutation(description="A village operator records the sanggah of the NIK owner present at the "
                                     "village office: NIK and KK checked against the record, in the operator's "
                                     "villages only; channel VILLAGE_OFFICE, with what the operator saw.")
    async def file_appeal_in_person(self, info: Info, input: FileAppealInPersonInput) -> AppealPayload:
        c = ctx(info)
        try:
            operator = _staff(c)
            if not isinstance(input.comparison_data, dict):
                raise problem("COMPARISON_DATA_INVALID", field="comparisonData")
            decision_id = _id("Decision", input.decision)
            seen = input.identity_check
            check = in_person.IdentityCheck(owner_present=seen.owner_present, ktp_seen=seen.ktp_seen,
                                            kk_seen=seen.kk_seen, documents_seen=tuple(seen.documents_seen))

            async def work():
                appeal = await in_person.file_in_person(
                    c.db, c.hooks, operator, nik=input.nik, kk=input.kk, decision_id=decision_id,
                    ground=input.ground, disputed=input.disputed_reasons, statement=input.statement,
                    comparison=input.comparison_data, check=check)
                return appeal.id, None

            asked = {"nik": input.nik, "kk": input.kk, "decision": decision_id, "ground": input.ground,
                     "disputed": input.disputed_reasons, "statement": input.statement,
                     "comparison": input.comparison_data, "check": check.kinds()}
            done = await idempotency.once(c.db, operator, input.client_key, "fileAppealInPerson", asked, work)
            return await _payload(c, done.entity_id)
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
