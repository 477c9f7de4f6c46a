"""GraphQL for rolling out pilots (national office only): create and change a pilot, and what an
admin needs to fill in the form (each installed plugin's settings schema).

Validation is the pilot file's (``parse_pilot``) plus :mod:`perlinsos.pilots.rollout`, so the CLI
and the API accept and refuse the same pilots. Every problem comes back naming its field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from perlinsos import policy
from perlinsos.errors import Problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import Forbidden, Unauthenticated
from perlinsos.graphql.payloads import UserError
from perlinsos.graphql.pilots.types import Pilot
from perlinsos.pilots import rollout
from perlinsos.pilots.files import PilotFileError
from perlinsos.problems import problem


@strawberry.input(description="When registration and appeals open and close (with a time zone offset).")
class PhasesInput:
    registration_opens: datetime
    registration_closes: datetime
    appeal_opens: datetime | None = None
    appeal_closes: datetime | None = None


@strawberry.input(description="Phases to change; fields left out stay as they are.")
class PhasesUpdateInput:
    registration_opens: datetime | None = strawberry.UNSET
    registration_closes: datetime | None = strawberry.UNSET
    appeal_opens: datetime | None = strawberry.UNSET
    appeal_closes: datetime | None = strawberry.UNSET


@strawberry.input(description="A plugin the pilot enables and its settings (see pluginSettingsSchemas).")
class PluginSettingsInput:
    name: str
    # None, not a {} default: graphql-core cannot print a JSON object default for introspection.
    settings: JSON | None = strawberry.field(default=None, description="Default: the plugin's own defaults.")


@strawberry.input(description="A new pilot: the fields of a pilot file.")
class PilotInput:
    code: str = strawberry.field(description="Short stable code, e.g. JBR-2026.")
    name: str
    regions: list[str] = strawberry.field(description="Kode wilayah (Kemendagri) the pilot covers.")
    programmes: list[str]
    phases: PhasesInput
    languages: list[str] | None = strawberry.field(default=None, description="Default: id and en.")
    plugins: list[PluginSettingsInput] = strawberry.field(default_factory=list)
    templates: JSON | None = strawberry.field(default=None, description="Notification text overrides.")
    training: bool = strawberry.field(default=False, description="A training pilot for a facilitator class: "
                                      "simulators only, texts marked LATIHAN, out of statistics, resettable. "
                                      "Fixed at creation.")


@strawberry.input(description="Changes to a pilot; fields left out stay as they are. `plugins` replaces the "
                              "whole plugin set; a masked secret (**********) keeps the stored one, unless the "
                              "update changes where it is sent (a plugin's secretDestinationFields): then give "
                              "it again, or the update is refused naming it.")
class PilotUpdateInput:
    name: str | None = strawberry.UNSET
    regions: list[str] | None = strawberry.UNSET
    programmes: list[str] | None = strawberry.UNSET
    languages: list[str] | None = strawberry.UNSET
    phases: PhasesUpdateInput | None = strawberry.UNSET
    plugins: list[PluginSettingsInput] | None = strawberry.UNSET
    templates: JSON | None = strawberry.UNSET


@strawberry.type
class PilotPayload:
    pilot: Pilot | None
    errors: list[UserError]


@strawberry.type(description="What a training pilot's reset deleted.")
class TrainingResetCounts:
    registrations: int
    consents: int
    decisions: int
    appeals: int
    evidence_files: int
    notifications: int
    selection_runs: int


@strawberry.type
class ResetTrainingPilotPayload:
    pilot: Pilot | None
    deleted: TrainingResetCounts | None
    errors: list[UserError]


@strawberry.type(description="What a plugin accepts as a pilot's settings.")
class PluginSettingsSchema:
    plugin: str
    schema: JSON | None = strawberry.field(description="JSON Schema of the settings; null: no settings.")
    secret_fields: list[str] = strawberry.field(
        description="Settings shown masked and kept when sent back masked (unless a secret destination changes).")
    secret_destination_fields: list[str] = strawberry.field(
        description="Settings saying where the secrets are sent: changing one requires entering the secrets again "
                    "(sent back masked, they are refused, not kept).")


def _set(value: Any) -> bool:
    return value is not strawberry.UNSET and value is not None


def _plugins(items: list[PluginSettingsInput]) -> dict[str, Any]:
    plugins: dict[str, Any] = {}
    for item in items:
        # Two entries for one plugin would silently drop one: refuse, naming it.
        if item.name in plugins:
            raise PilotFileError("input", [(f"plugins.{item.name}", "the plugin is listed twice")])
        plugins[item.name] = item.settings if item.settings is not None else {}
    return plugins


def _create_data(i: PilotInput) -> dict[str, Any]:
    data: dict[str, Any] = {"code": i.code, "name": i.name, "regions": i.regions, "programmes": i.programmes,
                            "phases": {k: v for k, v in vars(i.phases).items() if v is not None},
                            "plugins": _plugins(i.plugins)}
    if i.languages is not None:
        data["languages"] = i.languages
    if i.templates is not None:
        data["templates"] = i.templates
    if i.training:
        data["training"] = True
    return data


def _update_data(i: PilotUpdateInput) -> dict[str, Any]:
    changes: dict[str, Any] = {k: getattr(i, k) for k in ("name", "regions", "programmes", "languages", "templates")
                               if _set(getattr(i, k))}
    if _set(i.phases):
        # An explicit null clears an appeal date; an absent one keeps it.
        changes["phases"] = {k: v for k, v in vars(i.phases).items() if v is not strawberry.UNSET}
    if _set(i.plugins):
        changes["plugins"] = _plugins(i.plugins)
    return changes


def _field(path: str) -> str:
    """A pilot-file path as the GraphQL input names it (phases.registration_closes → phases.registrationCloses);
    plugin settings keep their own names."""
    parts = path.split(".")
    if parts[0] == "plugins":
        return path
    return ".".join(to_camel_case(p) for p in parts)


def _errors(exc: PilotFileError, language: str) -> list[UserError]:
    code = exc.code if isinstance(exc, rollout.RolloutRefused) else "PILOT_INVALID"
    return [UserError.of(problem(code, field=_field(f), detail=_field(f), english=m), language)
            for f, m in exc.problems]


def _check_admin(c) -> None:
    if c.principal is None:
        raise problem("UNAUTHENTICATED")
    if not policy.can_roll_out_pilots(c.principal):
        raise problem("FORBIDDEN")


def _forget(c, code: str) -> None:
    """This process changed ``code``: its next request must not use the cached pilot."""
    if c.pilot_cache is not None:
        c.pilot_cache.invalidate(code)


@strawberry.type
class PilotAdminQueries:
    @strawberry.field(description="Each installed plugin's settings schema, for the pilot form (national office only).")
    def plugin_settings_schemas(self, info: Info) -> list[PluginSettingsSchema]:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        if not policy.can_roll_out_pilots(c.principal):
            raise Forbidden()
        found = []
        for name in c.plugins.names():
            model = c.plugins.settings_model(name)
            found.append(PluginSettingsSchema(plugin=name, schema=model.model_json_schema() if model else None,
                                              secret_fields=rollout.secret_fields(c.plugins, name),
                                              secret_destination_fields=rollout.secret_destinations(c.plugins, name)))
        return found


@strawberry.type
class PilotAdminMutations:
    @strawberry.mutation(description="Roll out a new pilot (national office only).")
    async def create_pilot(self, info: Info, input: PilotInput) -> PilotPayload:
        c = ctx(info)
        try:
            _check_admin(c)
            row = await rollout.create(c.db, c.principal, _create_data(input), c.plugins)
        except Problem as p:
            return PilotPayload(pilot=None, errors=[UserError.of(p, c.language)])
        except PilotFileError as exc:
            return PilotPayload(pilot=None, errors=_errors(exc, c.language))
        _forget(c, row.code)  # a request may have asked for it (and cached "unknown") before
        return PilotPayload(pilot=Pilot.from_row(row), errors=[])

    @strawberry.mutation(description="Change a pilot; fields left out stay as they are (national office only).")
    async def update_pilot(self, info: Info, code: str, input: PilotUpdateInput) -> PilotPayload:
        c = ctx(info)
        try:
            _check_admin(c)
            row = await rollout.update(c.db, c.principal, code, _update_data(input), c.plugins)
        except Problem as p:
            return PilotPayload(pilot=None, errors=[UserError.of(p, c.language)])
        except PilotFileError as exc:
            return PilotPayload(pilot=None, errors=_errors(exc, c.language))
        _forget(c, row.code)
        return PilotPayload(pilot=Pilot.from_row(row), errors=[])

    @strawberry.mutation(description="Reset a training pilot to its start for the next class: its registrations, "
                                     "consents, decisions, appeals, evidence and notifications are deleted (the "
                                     "audit log keeps its rows and records the reset). NOT_A_TRAINING_PILOT for "
                                     "any other pilot, nothing changed (national office only).")
    async def reset_training_pilot(self, info: Info, code: str) -> ResetTrainingPilotPayload:
        from perlinsos.appeals.evidence.routes import storage_for
        from perlinsos.pilots import store, training

        c = ctx(info)
        try:
            _check_admin(c)
            counts = await training.reset(c.db, c.principal, code, storage=storage_for(c.settings))
        except Problem as p:
            return ResetTrainingPilotPayload(pilot=None, deleted=None, errors=[UserError.of(p, c.language)])
        _forget(c, code)
        async with c.db.read() as session:
            row = await store.get_pilot(session, code)
        return ResetTrainingPilotPayload(pilot=Pilot.from_row(row), deleted=TrainingResetCounts(**vars(counts)),
                                         errors=[])
