"""Assembling the schema: the core's queries plus every plugin's ``graphql_schema_parts``.

A field name contributed twice — by the core and a plugin, or by two plugins — stops start-up
with an error naming both contributors.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from perlinsos.contract import Role as RoleEnum
from perlinsos.errors import PluginError
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import MASKED_MESSAGE, MaskWithRequestId, log, should_mask
from perlinsos.graphql.execution import context_class_for
from perlinsos.graphql.extensions import AccessLog, OneOperation
from perlinsos.graphql.limits import HideSuggestions, limits_rule, token_limit
from perlinsos.graphql import trusted
from perlinsos.logs import RequestFacts
from perlinsos.graphql.scalars import SCALAR_OVERRIDES
from perlinsos.graphql.appeals.mutations import AppealMutations
from perlinsos.graphql.appeals.queries import AppealQueries
from perlinsos.graphql.forms.queries import FormQueries
from perlinsos.graphql.facilitation.mutations import FacilitationMutations
from perlinsos.graphql.facilitation.queries import FacilitationQueries
from perlinsos.graphql.registration.consent import ConsentMutations, ConsentQueries
from perlinsos.graphql.notification.inbox import InboxMutations, InboxSubscriptions, OutboxQueries
from perlinsos.graphql.registration.me import MeQueries
from perlinsos.graphql.pilots.admin import PilotAdminMutations, PilotAdminQueries
from perlinsos.graphql.pilots.queries import PilotQueries
from perlinsos.graphql.registration.mutations import RegistrationMutations
from perlinsos.graphql.registration.queries import RegistrationQueries
from perlinsos.graphql.selection.runs import SelectionMutations, SelectionQueries
from perlinsos.graphql.staff import StaffMutations, StaffQueries
from perlinsos.graphql.stats import StatsQueries
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings


class Kind(str, enum.Enum):
    # Principal.kind's values (an identity plugin sets "citizen" or "staff"), and nobody signed in;
    # lower-case names: the values clients received as strings stay the same.
    citizen = "citizen"
    staff = "staff"
    anonymous = "anonymous"


ViewerKind = strawberry.enum(Kind, name="ViewerKind", description="Who is signed in: a citizen, staff, or nobody.")
Role = strawberry.enum(RoleEnum, name="Role", description="What a viewer may do: CITIZEN, or a staff role.")


@strawberry.type(description="Who is asking: a frontend shows or hides features with this.")
class Viewer:
    subject: str | None
    kind: ViewerKind
    roles: list[Role]
    language: str
    pilot: str | None


@strawberry.type
class CoreQueries:
    @strawberry.field(description="The signed-in principal (kind `anonymous` when signed out).")
    def viewer(self, info: Info) -> Viewer:
        c = ctx(info)
        p = c.principal
        return Viewer(
            subject=p.subject if p else None,
            kind=Kind(p.kind) if p else Kind.anonymous,
            roles=sorted({RoleEnum(getattr(r, "value", r)) for r in p.roles()}, key=lambda r: r.value) if p else [],
            language=c.language,
            pilot=c.pilot.code if c.pilot else None,
        )


CORE_QUERY_TYPES: tuple[type, ...] = (CoreQueries, AppealQueries, ConsentQueries, FormQueries, MeQueries, OutboxQueries, PilotQueries, RegistrationQueries,
                                      SelectionQueries, StaffQueries, PilotAdminQueries, StatsQueries, FacilitationQueries)
CORE_MUTATION_TYPES: tuple[type, ...] = (AppealMutations, ConsentMutations, InboxMutations, RegistrationMutations, SelectionMutations,
                                         StaffMutations, PilotAdminMutations, FacilitationMutations)
CORE_SUBSCRIPTION_TYPES: tuple[type, ...] = (InboxSubscriptions,)


def _fields_of(types: Iterable[type]) -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for t in types:
        for f in t.__strawberry_definition__.fields:
            found[f.graphql_name or to_camel_case(f.python_name)] = ("core", f)
    return found


def _merge(kind: str, core: dict[str, tuple[str, Any]], parts: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    merged = dict(core)
    for plugin, fields in parts:
        for name, field in fields.items():
            graphql_name = getattr(field, "graphql_name", None) or to_camel_case(name)
            if graphql_name in merged:
                other = merged[graphql_name][0]
                raise PluginError(
                    plugin,
                    f"contributes {kind} field {graphql_name!r}, already contributed by "
                    + ("the core" if other == "core" else f"plugin {other!r}"),
                )
            merged[graphql_name] = (plugin, field)
    return merged


def _root(name: str, bases: tuple[type, ...], merged: dict[str, tuple[str, Any]]) -> type | None:
    extra = {
        graphql_name: field for graphql_name, (owner, field) in merged.items() if owner != "core"
    }
    if not bases and not extra:
        return None
    # Plugin fields are resolver fields; their GraphQL names are fixed so the class attribute
    # name does not matter.
    namespace: dict[str, Any] = {}
    for graphql_name, field in extra.items():
        field.graphql_name = graphql_name
        namespace[f"plugin__{graphql_name}"] = field
    return strawberry.type(type(name, bases, namespace))


class PerlinsosSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Strawberry logs every error at ERROR with the document excerpt: anyone could flood the
        log with refused documents, and a NIK typed into a query would be copied into it.
        Unexpected errors are logged whole where they are masked (``errors.should_mask``); the
        client's own mistakes are counted at DEBUG, without their text."""
        if errors:
            log.debug("%d GraphQL error(s) answered to the client", len(errors))


def build_schema(plugins: PluginManager, settings: Settings) -> strawberry.Schema:
    parts = plugins.schema_parts()
    query_fields = _merge("query", _fields_of(CORE_QUERY_TYPES), [(n, p.query_fields) for n, p in parts])
    mutation_fields = _merge("mutation", _fields_of(CORE_MUTATION_TYPES), [(n, p.mutation_fields) for n, p in parts])
    query = _root("Query", CORE_QUERY_TYPES, query_fields)
    mutation = _root("Mutation", CORE_MUTATION_TYPES, mutation_fields)
    extra_types = [t for _, p in parts for t in p.types]

    # Validation rules are built once: ValidationCache keys on the rule classes, and the limiter
    # extensions create new classes per instance, so per-request limiters never hit the cache.
    # Depth, aliases and cost in one memoised pass over the expanded document (see limits.py:
    # strawberry's QueryDepthLimiter/MaxAliasesLimiter re-walk every fragment spread).
    rules: list[Any] = [
        limits_rule(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
                    max_cost=settings.max_query_cost, max_page_size=settings.max_page_size),
    ]
    if settings.production:
        rules.append(NoSchemaIntrospectionCustomRule)
    manifest = trusted.load(settings)
    extensions: list[Any] = [
        RequestFacts,  # first: its end sees the final (masked) errors, for the request line and metrics
        token_limit(settings.max_document_tokens),
        # strawberry's caches, with the trusted documents pinned (parsed and validated once per process)
        trusted.parser_cache(manifest, maxsize=256),
        trusted.validation_cache(manifest, maxsize=256),
        OneOperation,
        lambda: AddValidationRules(rules),
        lambda: MaskWithRequestId(should_mask_error=should_mask, error_message=MASKED_MESSAGE),
        AccessLog,
    ]
    if settings.production:
        extensions.append(HideSuggestions)
    subscription = strawberry.type(type("Subscription", CORE_SUBSCRIPTION_TYPES, {}))
    schema = PerlinsosSchema(query=query, mutation=mutation, subscription=subscription, types=extra_types,
                               extensions=extensions, scalar_overrides=SCALAR_OVERRIDES)
    schema.execution_context_class = context_class_for(schema._schema, fast=settings.fast_execution)
    schema.trusted = manifest  # the view and the websocket resolve document ids with it
    return schema


def export_sdl(schema: strawberry.Schema) -> str:
    return schema.as_str().rstrip() + "\n"
