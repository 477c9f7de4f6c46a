"""Small-cell suppression for published counts (statistical disclosure control).

Primary suppression: a count from 1 to K-1 is not shown. The usual threshold rule of official
statistics (e.g. the Eurostat/ESSnet *Handbook on Statistical Disclosure Control*, ch. 4
"threshold rule"; the UK ONS and US CMS publish no cell under 5 / 11) protects a household that
could otherwise be singled out in a small village. Zero is shown: it describes nobody.

Secondary (complementary) suppression: published tables come with totals, and a table's cells
are tied by additive equations (a village's channels sum to its total; a kecamatan's villages sum
to the kecamatan). An equation with exactly one hidden member gives that member away by
subtraction, so another member of it is hidden too, the smallest non-zero one first (least
information lost), and so on until no equation has exactly one hidden member.

This is the minimum the practice asks for, not a full audit: several equations together can still
bound a hidden cell (a linear-programming attack); tools such as tau-ARGUS solve that exactly.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

#: the usual threshold: no published count below 5
DEFAULT_MIN_CELL = 5


@dataclass(frozen=True)
class Equation:
    """``total == sum(parts)``, known to anyone reading the published tables."""

    total: Hashable
    parts: tuple[Hashable, ...]


def suppress(values: Mapping[Hashable, int], equations: Iterable[Equation], min_cell: int,
             hide_with: Mapping[Hashable, Sequence[Hashable]] | None = None) -> set[Hashable]:
    """The cells of ``values`` to hide.

    ``hide_with``: when a key is hidden, these cells go with it (a hidden row total hides the row's
    categories, zeros included, or the row would still tell *which* category its few members are in).
    """
    hide_with = hide_with or {}
    equations = [e for e in equations if e.parts]
    by_cell: dict[Hashable, list[int]] = defaultdict(list)
    for i, eq in enumerate(equations):
        for cell in (eq.total, *eq.parts):
            by_cell[cell].append(i)

    hidden: set[Hashable] = set()
    queue: deque[int] = deque()

    def hide(cell: Hashable) -> None:
        pending = [cell]
        while pending:
            c = pending.pop()
            if c in hidden:
                continue
            hidden.add(c)
            queue.extend(by_cell.get(c, ()))
            pending.extend(hide_with.get(c, ()))

    for cell, n in values.items():
        if 0 < n < min_cell:
            hide(cell)
    while queue:
        eq = equations[queue.popleft()]
        members = (eq.total, *eq.parts)
        if sum(1 for m in members if m in hidden) != 1:
            continue
        shown = [m for m in eq.parts if m not in hidden]
        if shown:
            # smallest non-zero part first; a zero part only when nothing else is left
            hide(min(shown, key=lambda m: (values.get(m, 0) == 0, values.get(m, 0), repr(m))))
        else:
            hide(eq.total)
    return hidden
