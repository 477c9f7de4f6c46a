"""Schema extensions of our own: writing the personal-data access log when an operation ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from graphql import GraphQLError, OperationDefinitionNode

from strawberry.extensions import SchemaExtension

from perlinsos import audit


class AccessLog(SchemaExtension):
    """Writes one audit row per person whose data the operation showed to a non-owner.

    Runs after execution, in its own short write transaction, so a read-only request never
    holds a write lock while resolving.
    """

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        people = getattr(context, "accessed_people", None)
        if not people:
            return
        async with context.db.write() as session:
            await audit.record_reads(
                session,
                context.principal,
                people,
                purpose="graphql",
                operation=self.execution_context.operation_name,
            )


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
