"""Schema extensions of our own: writing the personal-data access log when an operation ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from perlinsos import audit


class MarkingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution, marking where each Registrant of a logged person is completed
    (its response path): the access log keeps the marks whose path survives in the answer."""

    #: the object type whose completion marks an access (Registrant); set per schema
    person_type: GraphQLObjectType | None = None

    def collect_and_execute_subfields(self, return_type, field_details_list, path, result, position_context):
        if return_type is self.person_type:
            self.mark_person(path, result)
        return super().collect_and_execute_subfields(return_type, field_details_list, path, result,
                                                     position_context)

    def mark_person(self, path, source: Any) -> None:
        context = self.context_value
        candidates = getattr(context, "access_candidates", None)
        if candidates:
            person = candidates.get(getattr(source, "id", None))
            if person is not None:
                context.mark_access(path.as_list(), (person,))


def reached(data: Any, path: tuple) -> bool:
    """Whether the answer's ``data`` holds a value at ``path`` (no ancestor nulled by an error)."""
    value = data
    for key in path:
        if value is None:
            return False
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return False
    return value is not None


class AccessLog(SchemaExtension):
    """Writes one audit row per person whose data the operation's answer carried to a non-owner,
    and the rows of a data export that reached its citizen.

    Execution marks candidates with their response paths (``Context.mark_access``); here, once the
    answer is final, only marks whose path survives in ``data`` are written: data discarded by a
    sibling's error is not logged, data shown always is. Runs before the answer is sent (over HTTP when
    the operation ends, over a websocket just before its result is sent), in its own
    short write transaction (a read-only request never holds a write lock while resolving), and
    closes the log: a branch still running afterwards writes nothing.
    """

    async def on_stream_result(self, result: Any) -> AsyncIterator[None]:
        # A query or mutation over the websocket (``Schema.stream``) is sent at this hook's yield,
        # still inside ``on_operation``: the rows are written first, as over HTTP. Written only
        # after the send, a socket closed meanwhile cancelled the write and lost rows of data the
        # client had received.
        if (isinstance(result, ExecutionResult) and not isinstance(result, PreExecutionError)
                and self.execution_context.operation_type is not OperationType.SUBSCRIPTION):
            await self._write(result.data)
        yield

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        result = self.execution_context.result
        await self._write(getattr(result, "data", None) if result is not None else None)

    async def _write(self, data: Any) -> None:
        context = self.execution_context.context
        marks = getattr(context, "access_marks", None)
        if marks is None or context.access_closed:
            return
        context.access_closed = True
        shown: dict[str, set[int]] = {}
        for path, people, purpose in marks:
            if reached(data, path):
                shown.setdefault(purpose, set()).update(people)
        if not shown:
            return
        async with context.db.write() as session:
            for purpose, people in sorted(shown.items()):
                await audit.record_reads(session, context.principal, people, purpose=purpose,
                                         operation=self.execution_context.operation_name)


class OneOperation(SchemaExtension):
    """A document with several operations must say which to run (GraphQL spec, "GetOperation");
    strawberry would silently run the first. Listed after ValidationCache, whose result it keeps
    when the document is invalid anyway."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # strawberry's `operation_name` falls back to the first operation's name: the name the
        # client actually sent is kept privately.
        if (not context.pre_execution_errors and document is not None
                and getattr(context, "_provided_operation_name", None) is None
                and sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1):
            context.pre_execution_errors = [GraphQLError(
                "Dokumen berisi beberapa operasi: sebutkan operationName. / "
                "Must provide operation name if query contains multiple operations.",
                extensions={"code": "OPERATION_NAME_REQUIRED"})]
        yield
