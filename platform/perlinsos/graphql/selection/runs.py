"""GraphQL for the national office's side of selection: run it, watch it, preview a change."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos import globalids, policy
from perlinsos.db.models import RunStatus
from perlinsos.db.models import SelectionRun as RunRow
from perlinsos.errors import Problem
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.selection.types import Outcome
from perlinsos.graphql.errors import Forbidden, Unauthenticated
from perlinsos.graphql.payloads import UserError
from perlinsos.pilots import store
from perlinsos.plugins import PluginError
from perlinsos.problems import problem
from perlinsos.selection import begin, run_selection
from perlinsos.selection.preview import preview


@strawberry.type
class OutcomeCount:
    outcome: Outcome
    count: int


@strawberry.type
class ReasonCount:
    code: str
    count: int


def _outcomes(counts: Mapping[str, int]) -> list[OutcomeCount]:
    return [OutcomeCount(outcome=Outcome(o), count=n) for o, n in sorted(counts.items())]


def _reasons(counts: Mapping[str, int]) -> list[ReasonCount]:
    return [ReasonCount(code=c, count=n) for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


SelectionRunStatus = strawberry.enum(RunStatus, name="SelectionRunStatus",
                                     description="Where a selection run is: RUNNING, FINISHED or FAILED.")


@strawberry.type(description="A selection pass over a pilot's registrations, with its progress.")
class SelectionRun:
    id: strawberry.ID
    programme: str | None
    status: SelectionRunStatus
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    processed: int
    decided: int = strawberry.field(description="New decision versions written.")
    unchanged: int = strawberry.field(description="Registrations given no new version: neither their outcome nor "
                                                  "a reason they are shown changed.")
    kept: int = strawberry.field(description="Registrations whose current decision stayed because a data source "
                                             "failed; each is in the audit log (DECISION_KEPT, with the facts that "
                                             "could not be read).")
    outcomes: list[OutcomeCount]
    failed_reasons: list[ReasonCount]
    pending_reasons: list[ReasonCount]

    @classmethod
    def from_row(cls, row) -> SelectionRun:
        counts = row.counts or {}
        return cls(id=strawberry.ID(row.id), programme=row.programme, status=RunStatus(row.status),
                   started_by=row.started_by, started_at=row.started_at, finished_at=row.finished_at,
                   processed=counts.get("processed", 0), decided=counts.get("decided", 0),
                   unchanged=counts.get("unchanged", 0), kept=counts.get("kept", 0),
                   outcomes=_outcomes(counts.get("outcomes", {})),
                   failed_reasons=_reasons(counts.get("failed_reasons", {})),
                   pending_reasons=_reasons(counts.get("pending_reasons", {})))


@strawberry.type(description="What the current decisions would become under proposed settings.")
class SelectionPreview:
    total: int
    outcomes: list[OutcomeCount]
    failed_reasons: list[ReasonCount]
    pending_reasons: list[ReasonCount]


@strawberry.type
class RunSelectionPayload:
    run: SelectionRun | None
    errors: list[UserError]


@strawberry.type
class SelectionPreviewPayload:
    preview: SelectionPreview | None
    errors: list[UserError]


def _admin(c: Context) -> None:
    if c.principal is None:
        raise problem("UNAUTHENTICATED")
    if not policy.can_administer(c.principal):
        raise problem("FORBIDDEN")


async def _pilot(c: Context, code: str):
    async with c.db.read() as session:
        row = await store.get_pilot(session, code)
    if row is None:
        raise problem("PILOT_UNKNOWN", field="pilot")
    return row, store.pilot_context(row, c.plugins)


#: runs started by this process, so a second request does not start the same run twice
_TASKS: dict[tuple[str, str | None], asyncio.Task] = {}


@strawberry.type
class SelectionQueries:
    @strawberry.field(description="A selection run and its progress (national office).")
    async def selection_run(self, info: Info, id: strawberry.ID) -> SelectionRun | None:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        if not policy.can_administer(c.principal):
            raise Forbidden()
        key = globalids.uuid_key(id)  # not a UUID: no such run
        if key is None:
            return None
        async with c.db.read() as session:
            row = await session.get(RunRow, key)
        return SelectionRun.from_row(row) if row else None

    @strawberry.field(description="Counts by outcome and reason under proposed plugin settings, e.g. "
                                  '`{"criteria": {"electricity_limit_va": 900}}`; writes nothing.')
    async def selection_preview(self, info: Info, pilot: str, settings: JSON,
                                programme: str | None = None) -> SelectionPreviewPayload:
        c = ctx(info)
        try:
            _admin(c)
            row, context = await _pilot(c, pilot)
            if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
                raise problem("INPUT_INVALID", field="settings")
            try:
                result = await preview(c.db, c.plugins, context, row.plugins, settings, programme)
            except PluginError as exc:
                raise problem("SETTINGS_INVALID", field="settings", english=str(exc)) from None
        except Problem as p:
            return SelectionPreviewPayload(preview=None, errors=[UserError.of(p, c.language)])
        return SelectionPreviewPayload(preview=SelectionPreview(
            total=result.total, outcomes=_outcomes(result.outcomes), failed_reasons=_reasons(result.failed_reasons),
            pending_reasons=_reasons(result.pending_reasons)), errors=[])


@strawberry.type
class SelectionMutations:
    @strawberry.mutation(description="Start (or resume) selection for a pilot; runs in the background.")
    async def run_selection(self, info: Info, pilot: str, programme: str | None = None) -> RunSelectionPayload:
        c = ctx(info)
        try:
            _admin(c)
            row, context = await _pilot(c, pilot)
            if programme is not None and programme not in context.programmes:
                raise problem("PROGRAMME_NOT_IN_PILOT", field="programme")
            key = (pilot, programme)
            if key in _TASKS and not _TASKS[key].done():
                raise problem("SELECTION_ALREADY_RUNNING")
            hooks = c.plugins.for_pilot(context)
            begun = await begin(c.db, context, programme, c.principal.subject)
            _TASKS[key] = asyncio.create_task(run_selection(c.db, hooks, programme=programme, begun=begun))
            async with c.db.read() as session:
                run = await session.get(RunRow, begun[0].run_id)
        except Problem as p:
            return RunSelectionPayload(run=None, errors=[UserError.of(p, c.language)])
        return RunSelectionPayload(run=SelectionRun.from_row(run), errors=[])


__all__ = ["SelectionMutations", "SelectionQueries"]
