"""GraphQL types for decisions and their reasons (the "why" of every outcome)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos.db import models
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.execution import context_resolver
from perlinsos.graphql.loaders import peek
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.util import then
from perlinsos.messages import reason_message
from perlinsos.selection.evaluate import CONSENT_CODE

if TYPE_CHECKING:
    from perlinsos.graphql.appeals.types import Appeal
    from perlinsos.graphql.notification.types import Notification
    from perlinsos.graphql.registration.types import Registration

AppealRef = Annotated["Appeal", strawberry.lazy("perlinsos.graphql.appeals.types")]
NotificationRef = Annotated["Notification", strawberry.lazy("perlinsos.graphql.notification.types")]
RegistrationRef = Annotated["Registration", strawberry.lazy("perlinsos.graphql.registration.types")]


Outcome = strawberry.enum(models.Outcome, name="Outcome")
Verdict = strawberry.enum(
    models.Verdict, name="Verdict",
    description="A criterion's result: PASS, FAIL, or UNKNOWN when its data is missing.",
)


_ORDER = {models.Verdict.FAIL: 0, models.Verdict.UNKNOWN: 1, models.Verdict.PASS: 2}
# Enum members and their values looked up once: per-row attribute access on an Enum class is slow
# and a page has hundreds of reasons.
_UNKNOWN, _PASS = models.Verdict.UNKNOWN, models.Verdict.PASS
_VALUE = {v: v.value for v in models.Verdict}

DecisionCause = strawberry.enum(models.DecisionCause, name="DecisionCause",
                                description="Why a decision version was written.")


@strawberry.type(description="One criterion's result in a decision.")
class DecisionReason:
    code: str = strawberry.field(description="The criterion, named by the condition that fails it (e.g. "
                                             "ELECTRICITY_ABOVE_LIMIT); `verdict` says whether it held: PASS means "
                                             "it did not. Plugins add codes, so this is a string.")
    verdict: Verdict
    passed: bool | None = strawberry.field(description="null when the verdict is UNKNOWN.",
                                           deprecation_reason="Repeats `verdict`; read `verdict` (PASS or FAIL).")
    observed: JSON | None
    limit: JSON | None
    source: str | None
    as_of: date | None
    criterion_version: str
    message: str = strawberry.field(description="The reason in the viewer's language.")

    @classmethod
    def from_row(cls, row, language: str) -> DecisionReason:
        verdict = row.verdict  # already a Verdict member (the column type converts it)
        observed = row.observed["value"] if row.observed else None
        limit = row.limit["value"] if row.limit else None
        return cls(
            code=row.code,
            verdict=verdict,
            passed=None if verdict is _UNKNOWN else verdict is _PASS,
            observed=observed,
            limit=limit,
            source=row.source,
            as_of=row.as_of,
            criterion_version=row.criterion_version,
            # The text given when the decision was made, in the viewer's language if it was rendered.
            message=(row.messages or {}).get(language)
            or reason_message(row.code, _VALUE[verdict], observed, limit, row.source, row.as_of, language),
        )


@strawberry.type(description="One version of a registration's selection outcome.")
class Decision:
    id: strawberry.ID
    version: int
    outcome: Outcome
    is_current: bool
    cause: DecisionCause = strawberry.field(description="SELECTION, or APPEAL when an upheld appeal re-ran it.")
    decided_at: datetime
    superseded_at: datetime | None
    criteria_versions: JSON
    db_id: strawberry.Private[int]
    registration_id: strawberry.Private[int]

    def _reasons(self, c: Context) -> list[DecisionReason]:
        def build(rows) -> list[DecisionReason]:
            # The platform's consent check is a precondition: shown when it kept the decision pending,
            # not as a passed "CONSENT_MISSING" (stored rows keep it; the digest and history need it).
            reasons = [DecisionReason.from_row(r, c.language) for r in rows
                       if not (r.code == CONSENT_CODE and r.verdict is _PASS)]
            return sorted(reasons, key=lambda r: _ORDER[r.verdict])

        return then(peek(c.loaders.reasons, self.db_id), build)

    @strawberry.field(description="Every criterion's result, failed ones first. The platform's consent check "
                                  "(CONSENT_MISSING) appears only when it did not pass.")
    @context_resolver(_reasons)  # called with the context directly by the list's execution
    def reasons(self, info: Info) -> list[DecisionReason]:
        return self._reasons(ctx(info))

    @strawberry.field
    def registration(self, info: Info) -> RegistrationRef:
        from perlinsos.graphql.registration.types import Registration

        return then(peek(ctx(info).loaders.registration, self.registration_id), Registration.from_row)

    @strawberry.field(description="Appeals filed against this decision.")
    def appeals(self, info: Info) -> list[AppealRef]:
        from perlinsos.appeals import reading
        from perlinsos.graphql.appeals.types import Appeal

        c = ctx(info)
        if reading.may_be_tied(c.principal):  # less those the viewer may not read (separation of duties)
            async def shown():
                rows = await c.loaders.appeals.load(self.db_id)
                kept = await reading.readable(c.db, c.principal, self.registration_id, rows, request_key=c.loaders)
                return [Appeal.from_row(r) for r in kept]

            return shown()
        return then(peek(c.loaders.appeals, self.db_id), lambda rows: [Appeal.from_row(r) for r in rows])

    @strawberry.field(description="Notifications this decision caused.")
    def notifications(self, info: Info) -> list[NotificationRef]:
        from perlinsos.graphql.notification.types import Notification

        c = ctx(info)
        return then(peek(c.loaders.notifications, self.db_id), lambda rows: [Notification.from_row(r) for r in rows])

    @classmethod
    def from_row(cls, row, c: Context | None = None) -> Decision | None:
        if row is None:
            return None
        outcome = row.outcome.value if hasattr(row.outcome, "value") else row.outcome
        return cls(
            id=to_global_id("Decision", row.id),
            version=row.version,
            outcome=Outcome(outcome),
            is_current=row.is_current,
            cause=models.DecisionCause(row.cause),
            decided_at=row.decided_at,
            superseded_at=row.superseded_at,
            criteria_versions=row.criteria_versions,
            db_id=row.id,
            registration_id=row.registration_id,
        )
