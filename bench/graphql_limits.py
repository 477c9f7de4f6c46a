"""Validation time of abusive documents: the previous limiters vs perlinsos.graphql.limits.

Baseline: graphql-core's specified rules plus strawberry's QueryDepthLimiter and MaxAliasesLimiter
(what the schema used before). Ours: the specified rules plus the one memoised DocumentLimits rule,
which stops validation when a limit is exceeded. Same schema, same documents, same run; each time
is the best of ``--repeat`` runs. An ordinary list query shows what the rule costs when nothing is
wrong.

    .venv/bin/python bench/graphql_limits.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from graphql import parse, specified_rules, validate
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from perlinsos.graphql.limits import limits_rule
from perlinsos.graphql.schema import build_schema
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings


def bomb(levels: int) -> str:
    """Each fragment spreads the next twice: 2^levels fields once expanded."""
    spreads = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels))
    return "{ ...F0 }\n" + spreads + f"fragment F{levels} on Query {{ viewer {{ kind }} }}"


def nested_repeats(copies: int) -> str:
    inner = " ".join(["registration { id }"] * copies)
    return '{ registration(id: "x") { ' + " ".join([f"decision {{ {inner} }}"] * copies) + " } }"


CASES = {
    "ordinary list query (first: 100)": '{ registrations(pilot: "BWI-2025", first: 100) { edges { cursor node { id '
    "programme registrant { nik name } decision { outcome reasons { code verdict observed limit message } } } } "
    "pageInfo { hasNextPage endCursor } } }",
    "fragment bomb, 16 levels": bomb(16),
    "fragment bomb, 20 levels": bomb(20),
    "viewer { kind } x 400": "{ " + "viewer { kind } " * 400 + "}",
    "decision x 20, registration x 20 each": nested_repeats(20),
}


def best(schema, document, rules, repeat: int) -> tuple[float, int]:
    times, errors = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        errors = validate(schema, document, rules)
        times.append(time.perf_counter() - started)
    return min(times), len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    schema = build_schema(PluginManager(), settings)._schema
    baseline = [*specified_rules, *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
                *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules]
    ours = [*specified_rules, limits_rule(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
                                          max_cost=settings.max_query_cost, max_page_size=settings.max_page_size)]
    print(f"{'document':42} {'baseline ms':>12} {'ours ms':>10} {'baseline/ours':>14}  errors (baseline / ours)")
    for name, text in CASES.items():
        document = parse(text, max_lexical_tokens=100_000)
        base_s, base_errors = best(schema, document, baseline, args.repeat)
        ours_s, ours_errors = best(schema, document, ours, args.repeat)
        print(f"{name:42} {base_s * 1000:12.1f} {ours_s * 1000:10.1f} {base_s / ours_s:14.1f}  "
              f"{base_errors} / {ours_errors}")


if __name__ == "__main__":
    main()
