"""Several problems of one submission, reported at once.

A form (``fileAppeal``, ``registerHousehold``) is checked whole: every field at fault is named in
one answer, instead of one problem per attempt. :class:`Problems` is a :class:`Problem` (the first
one found), so code that catches a single ``Problem`` keeps working; a payload lists them all
through :func:`every`.
"""

from __future__ import annotations

from collections.abc import Iterable

from perlinsos.errors import Problem


class Problems(Problem):
    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.code, first.messages, field=first.field)


def raise_all(found: Iterable[Problem]) -> None:
    """Raise what was found: nothing, the one problem, or all of them."""
    found = list(found)
    if len(found) == 1:
        raise found[0]
    if found:
        raise Problems(found)


def every(problem: Problem) -> list[Problem]:
    """Each problem a refusal carries (one, unless it is a :class:`Problems`)."""
    return list(getattr(problem, "problems", None) or [problem])
