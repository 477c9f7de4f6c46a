"""Errors as data: what a user can get wrong comes back in the payload, typed and translated."""

from __future__ import annotations

import strawberry

from perlinsos.errors import Problem


@strawberry.type(description="Something the user can correct: a machine code and a message in their language.")
class UserError:
    code: str
    message: str
    field: str | None = None
    retry_after: int | None = strawberry.field(
        default=None, description="RATE_LIMITED: seconds until the action may be tried again.")

    @classmethod
    def of(cls, problem: Problem, language: str) -> UserError:
        return cls(code=problem.code, message=problem.message(language), field=problem.field,
                   retry_after=getattr(problem, "retry_after", None))

    @classmethod
    def all_of(cls, problem: Problem, language: str) -> list[UserError]:
        """Every problem a refusal carries (a form checked whole names each field at fault)."""
        from perlinsos.problemlist import every

        return [cls.of(p, language) for p in every(problem)]
