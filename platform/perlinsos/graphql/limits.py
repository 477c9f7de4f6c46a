"""Limits on what one GraphQL document may ask for, counted on the document as executed.

One validation rule measures depth, aliases and cost of each operation with fragments expanded:
a fragment of 10 aliases spread 10 times is 100 aliases. Each fragment is measured once and
reused (memoised), so a "fragment bomb" (each fragment spreading the next twice) costs linear
time to measure instead of exponential time — strawberry's own limiters walk every spread again.

Cost: every field counts 1; a field with a ``first`` argument (a connection) multiplies what it
selects by its page size (the literal, else the largest page for a variable, else the default).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension

from perlinsos.graphql.gate import MAX_OPERATION_NAME

DEFAULT_PAGE = 20  # perlinsos.graphql.relay.page_size's default
#: A response path ("registration.decision.id") selected more often than this is refused: fields
#: of one path are merged, and graphql-core's OverlappingFieldsCanBeMerged compares them pairwise
#: (400 copies of one path took it 1-2 s). Clients repeat a field through a few fragments at most.
MAX_REPEATS = 20


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    #: how often each response path (("registration", "decision"), ...) occurs, fragments expanded
    paths: Counter = field(default_factory=Counter, compare=False)

    def __or__(self, other: Measure) -> Measure:
        """Two selections side by side: deepest depth, summed aliases and cost, merged names."""
        return Measure(max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost,
                       self.paths + other.paths)


class _Meter:
    def __init__(self, context: ValidationContext, max_page_size: int):
        self.schema = context.schema
        self.max_page_size = max_page_size
        self.fragments = {
            d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[str, Measure] = {}
        self.visiting: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None, parent) -> Measure:
        total = Measure()
        for selection in (node.selections or ()) if node else ():
            if isinstance(selection, FieldNode):
                total = total | self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                inner = self.schema.get_type(cond.name.value) if cond else parent
                total = total | self.selection_set(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total = total | self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> Measure:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return Measure()  # unknown or circular: graphql-core's own rules report these
        self.visiting.add(name)
        measure = self.selection_set(definition.selection_set, self.schema.get_type(definition.type_condition.name.value))
        self.visiting.discard(name)
        self.memo[name] = measure
        return measure

    def field(self, node: FieldNode, parent) -> Measure:
        alias = 1 if node.alias else 0
        key = ((node.alias or node.name).value,)
        definition = None
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            definition = parent.fields.get(node.name.value)
        if node.selection_set is None:
            return Measure(0, alias, 1, Counter({key: 1}))
        child_type = get_named_type(definition.type) if definition else None
        inner = self.selection_set(node.selection_set, child_type)
        # Aliases are counted as written (expanded), cost as executed (times the page size).
        cost = 1 + inner.cost * self._multiplier(node, definition)
        paths = Counter({key: 1})
        paths.update({key + path: count for path, count in inner.paths.items()})
        # Introspection (development only) nests `ofType` deeply by design: not counted as depth.
        depth = 0 if node.name.value.startswith("__") else 1 + inner.depth
        return Measure(depth, alias + inner.aliases, cost, paths)

    def _multiplier(self, node: FieldNode, definition) -> int:
        if definition is None or "first" not in definition.args:
            return 1
        for argument in node.arguments or ():
            if argument.name.value == "first":
                if isinstance(argument.value, IntValueNode):
                    return max(1, min(int(argument.value.value), self.max_page_size))
                if isinstance(argument.value, VariableNode):
                    return self.max_page_size
                return 1
        return DEFAULT_PAGE


def limits_rule(*, max_depth: int, max_aliases: int, max_cost: int, max_page_size: int,
                max_repeats: int = MAX_REPEATS) -> type[ValidationRule]:
    class DocumentLimits(ValidationRule):
        """Reports every limit an operation exceeds, then stops validation: graphql-core's
        OverlappingFieldsCanBeMerged is quadratic (or worse) in repeated fields, and a document
        over a limit is refused anyway."""

        def __init__(self, context: ValidationContext):
            super().__init__(context)
            self.found: list[GraphQLError] = []
            meter = _Meter(context, max_page_size)
            roots = {OperationType.QUERY: context.schema.query_type, OperationType.MUTATION: context.schema.mutation_type,
                     OperationType.SUBSCRIPTION: context.schema.subscription_type}
            for definition in context.document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    self._check(definition, meter.selection_set(definition.selection_set, roots.get(definition.operation)))

        def _check(self, node: OperationDefinitionNode, m: Measure) -> None:
            name = node.name.value if node.name else "anonymous"
            if len(name) > MAX_OPERATION_NAME:
                # The name is stored in every personal-data audit row: never a long one.
                self._found(node, "OPERATION_NAME_TOO_LONG",
                            f"Nama operasi lebih dari {MAX_OPERATION_NAME} karakter. / "
                            f"The operation name is longer than {MAX_OPERATION_NAME} characters.")
                name = name[:MAX_OPERATION_NAME] + "…"
            if m.depth > max_depth:
                self._found(node, "QUERY_TOO_DEEP",
                            f"Operasi '{name}' terlalu dalam (kedalaman {m.depth}, batas {max_depth}). / "
                            f"'{name}' exceeds maximum operation depth of {max_depth} (found {m.depth}).")
            if m.aliases > max_aliases:
                self._found(node, "TOO_MANY_ALIASES",
                            f"Operasi '{name}' memakai {m.aliases} alias, batasnya {max_aliases}. / "
                            f"{m.aliases} aliases found in '{name}' (fragments expanded). Allowed: {max_aliases}.")
            path, repeats = max(m.paths.items(), key=lambda item: item[1], default=((), 0))
            if repeats > max_repeats:
                where = ".".join(path)
                self._found(node, "FIELD_REPEATED",
                            f"Kolom '{where}' diminta {repeats} kali, batasnya {max_repeats}. / The field '{where}' "
                            f"is selected {repeats} times (fragments expanded). Allowed: {max_repeats}.")
            if m.cost > max_cost:
                self._found(node, "QUERY_TOO_COSTLY",
                            f"Operasi '{name}' terlalu besar (biaya {m.cost}, batas {max_cost}); minta lebih "
                            f"sedikit kolom atau halaman lebih kecil. / '{name}' is too costly (cost {m.cost}, "
                            f"limit {max_cost}): ask for fewer fields or smaller pages.")

        def _found(self, node, code: str, message: str) -> None:
            self.found.append(ValidationAbortedError(message, [node], extensions={"code": code}))

        def enter_document(self, *_):
            if not self.found:
                return
            for error in self.found[:-1]:
                self.context.report_error(error)
            raise self.found[-1]  # graphql-core's validate() returns it as the last error

    return DocumentLimits


_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def strip_suggestions(message: str) -> str:
    """``message`` without graphql-core's "Did you mean ...?" hint (the websocket door's answers
    are scrubbed with this as they are sent)."""
    return _SUGGESTION.sub("", message)


def _without_suggestions(error: GraphQLError) -> GraphQLError:
    message = strip_suggestions(error.message)
    if message == error.message:
        return error
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path, error.original_error,
                        error.extensions)


class HideSuggestions(SchemaExtension):
    """Production: drop graphql-core's "Did you mean ...?" hints, which spell out the schema
    (field, argument and enum names) to someone who may not introspect it."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [_without_suggestions(e) for e in result.errors]


def token_limit(max_tokens: int) -> type[SchemaExtension]:
    class TokenLimit(SchemaExtension):
        """Stops the parser after ``max_tokens`` lexical tokens (a 20 kB document of ``{`` is
        20,000 tokens; parsing time and memory follow the token count, not the byte count)."""

        def on_operation(self) -> Iterator[None]:
            self.execution_context.parse_options["max_lexical_tokens"] = max_tokens
            yield

    return TokenLimit
