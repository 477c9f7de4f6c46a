"""Every Python example in docs/ runs (or, when marked for reading only, at least compiles).

The convention (docs/contributing.md, "Code examples"): a fenced ```python block is run, each in a
fresh namespace (top-level ``await`` allowed), with the platform and the built-in plugins importable. A block meant only for
reading — a fragment, or one that needs a server, a database or a network — is preceded by the
line ``<!-- not run -->``; it must still compile. Blocks of other languages (toml, console, graphql,
text, ...) are not checked here.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
import textwrap
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOT_RUN = "<!-- not run -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)$")


def _python_blocks(path: Path) -> list[tuple[int, bool, str]]:
    """[(line number of the opening fence, runnable, code)] for each ```python block of a page."""
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, info = m.group("indent"), m.group("info").strip()
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if info.split(" ", 1)[0].lower() not in {"python", "py"}:
            continue
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        code = textwrap.dedent("\n".join(line[len(indent):] if line.startswith(indent) else line for line in body))
        blocks.append((start + 1, previous != NOT_RUN, code))
    return blocks


def _examples() -> list:
    params = []
    for page in sorted(DOCS.rglob("*.md")):
        for line, runnable, code in _python_blocks(page):
            rel = page.relative_to(DOCS).as_posix()
            params.append(pytest.param(rel, line, runnable, code, id=f"{rel}:{line}"))
    return params


EXAMPLES = _examples()


def test_the_docs_have_python_examples():
    assert any(runnable for _, _, runnable, _ in (p.values for p in EXAMPLES)), "no runnable example found in docs/"


@pytest.mark.parametrize(("page", "line", "runnable", "code"), EXAMPLES)
def test_docs_example(page, line, runnable, code):
    # top-level ``await`` is allowed, as in ``python -m asyncio``
    compiled = compile(code, f"docs/{page}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if runnable:
        # a fresh module per block (dataclasses and pydantic look their module up in sys.modules)
        module = types.ModuleType("docs_example_" + re.sub(r"\W", "_", page) + f"_{line}")
        sys.modules[module.__name__] = module
        try:
            result = eval(compiled, module.__dict__)
            if inspect.iscoroutine(result):
                asyncio.run(result)
        finally:
            del sys.modules[module.__name__]


def test_the_block_finder_honours_the_marker(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n<!-- not run -->\n\n```python title=\"t\"\ny = 2\n```\n"
                    "```toml\nz = 3\n```\n", encoding="utf-8")
    assert _python_blocks(page) == [(1, True, "x = 1"), (7, False, "y = 2")]
