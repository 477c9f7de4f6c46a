"""Schema extensions of our own: writing the personal-data access log when an operation ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
