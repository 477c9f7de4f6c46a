"""The contract documents and tests itself (as datasette does): every hook has a docstring that
states its arguments and its result semantics, a section in docs/plugins.md, and its own test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from perlinsos import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"

FAMILY_ORDER = ["identity", "data", "criteria", "notification", "appeals", "schema", "events"]
ALL_HOOKS = [name for names in hookspecs.FAMILIES.values() for name in names]

FIRST = "First result wins"
MERGED = "All results are merged"
EVENT = "Every implementation runs; results are ignored"


def spec_functions() -> dict[str, object]:
    """Every function in the module that pluggy sees as a hookspec."""
    return {name: f for name, f in vars(hookspecs).items()
            if inspect.isfunction(f) and hasattr(f, "perlinsos_spec")}


def test_families_are_the_contract_families_in_order():
    assert list(hookspecs.FAMILIES) == FAMILY_ORDER
    assert all(hookspecs.FAMILIES.values()), "a family without hooks"


def test_every_hookspec_is_in_a_family_and_vice_versa():
    specs = spec_functions()
    assert specs, "no hookspecs found: did the marker name change?"
    assert sorted(specs) == sorted(ALL_HOOKS)
    assert len(ALL_HOOKS) == len(set(ALL_HOOKS)), "a hook listed in two families"


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_hook_docstring_states_arguments_and_result_semantics(name):
    spec = getattr(hookspecs, name)
    doc = " ".join((inspect.getdoc(spec) or "").split())  # phrases may wrap across lines
    assert len(doc) > 40, f"{name}: missing or empty docstring"
    for arg in inspect.signature(spec).parameters:
        assert f":param {arg}:" in doc or f"``{arg}``" in doc, f"{name}: docstring does not describe {arg!r}"
    if not inspect.signature(spec).parameters:
        assert "no arguments" in doc, f"{name}: say that it takes no arguments"

    first = getattr(spec, hookspecs.FIRST_RESULT)
    stated = [s for s in (FIRST, MERGED, EVENT) if s in doc]
    if first:
        expected = FIRST
    else:
        expected = EVENT if getattr(spec, hookspecs.RESULTS_IGNORED) else MERGED
    assert stated == [expected], f"{name}: docstring should state {expected!r} (and nothing else), has {stated}"


def _doc_sections(text: str | None = None) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(``##`` headings in order, [(family, hook, arguments)] for each ``### hook(...)``)."""
    families, hooks = [], []
    family = None
    for line in (DOCS.read_text(encoding="utf-8") if text is None else text).splitlines():
        if m := re.match(r"^## (.+?)\s*$", line):
            family = m.group(1).lower()
            families.append(family)
        elif m := re.match(r"^### (\w+)\((.*)\)\s*$", line):
            hooks.append((family, m.group(1), m.group(2)))
    return families, hooks


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_hook_has_a_docs_section(name):
    _, hooks = _doc_sections()
    sections = [(family, args) for family, hook, args in hooks if hook == name]
    assert len(sections) == 1, f"docs/plugins.md needs exactly one '### {name}(...)' section"
    family, args = sections[0]
    expected_family = next(f for f, names in hookspecs.FAMILIES.items() if name in names)
    assert family == expected_family, f"{name} is documented under '## {family}', not '## {expected_family}'"
    params = list(inspect.signature(getattr(hookspecs, name)).parameters)
    assert [a.strip() for a in args.split(",") if a.strip()] == params, f"{name}: heading arguments differ"


def test_docs_list_hooks_in_contract_order():
    families, hooks = _doc_sections()
    family_headings = [f.capitalize() for f in FAMILY_ORDER]
    text = DOCS.read_text(encoding="utf-8")
    assert all(f"\n## {h}\n" in text for h in family_headings), "a family heading is missing"
    assert [f for f in families if f in FAMILY_ORDER] == FAMILY_ORDER
    assert [hook for _, hook, _ in hooks] == ALL_HOOKS, "docs/plugins.md lists hooks out of contract order"


def _test_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in TESTS.rglob("test_*.py"))


@pytest.mark.parametrize("name", ALL_HOOKS)
def test_hook_has_its_own_test(name):
    pattern = re.compile(rf"^\s*(async\s+)?def test_hook_{name}\b", re.MULTILINE)
    assert pattern.search(_test_sources()), f"no test function named test_hook_{name} under tests/"


def test_meta_checks_can_fail():
    """The parsers above must be able to see a missing section, a misplaced one and a missing test."""
    sample = "## Identity\n### authenticate(token, pilot)\n## Data\n### fetch_person(nik, consent, pilot)\n"
    assert _doc_sections(sample) == (["identity", "data"], [
        ("identity", "authenticate", "token, pilot"), ("data", "fetch_person", "nik, consent, pilot")])
    assert "collect_facts" not in [hook for _, hook, _ in _doc_sections(sample)[1]]
    pattern = re.compile(r"^\s*(async\s+)?def test_hook_no_such_hook\b", re.MULTILINE)
    assert not pattern.search(_test_sources())
