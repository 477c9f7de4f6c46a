"""`perlinsos schema diff`: a breaking or dangerous contract change fails unless schema/CHANGELOG.md
names it under "Unreleased"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from perlinsos.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASE = """\
type Query {
  viewer: Viewer!
  outcome: Outcome!
}

type Viewer {
  kind: String!
  language: String!
}

enum Outcome {
  ELIGIBLE
  NOT_ELIGIBLE
}
"""
CHANGELOG = """\
# GraphQL contract changes

## Unreleased

{unreleased}

## 2026-12 - an older release

{older}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def diff(tmp_path: Path, new_sdl: str, unreleased: str = "- nothing", older: str = "- nothing",
         against: str | None = None):
    old = write(tmp_path, "old.graphql", BASE)
    new = write(tmp_path, "new.graphql", new_sdl)
    log = write(tmp_path, "CHANGELOG.md", CHANGELOG.format(unreleased=unreleased, older=older))
    return CliRunner().invoke(main, ["schema", "diff", "--against", against or str(old), "--schema", str(new),
                                     "--changelog", str(log)])


def test_a_removed_field_fails_until_the_changelog_names_it(tmp_path):
    removed = BASE.replace("  language: String!\n", "")
    result = diff(tmp_path, removed)
    assert result.exit_code == 1, result.output
    assert "BREAKING FIELD_REMOVED: Field Viewer.language was removed.  NOT IN CHANGELOG" in result.output
    assert "name Viewer.language there" in result.output

    # A longer name, or the entry under an older release, does not record it.
    assert diff(tmp_path, removed, unreleased="- `Viewer.languages` added").exit_code == 1
    assert diff(tmp_path, removed, older="- **Breaking:** `Viewer.language` removed").exit_code == 1

    result = diff(tmp_path, removed, unreleased="- **Breaking:** `Viewer.language` removed; read `Accept-Language`.")
    assert result.exit_code == 0, result.output
    assert "1 breaking or dangerous change(s)" in result.output and "all recorded" in result.output


def test_just_after_a_release_is_cut_its_heading_records_the_changes(tmp_path):
    # "Unreleased" renamed to the release's heading before schema/released.graphql is replaced.
    removed = BASE.replace("  language: String!\n", "")
    log = write(tmp_path, "CHANGELOG.md", "# Changes\n\n## 2027-01 - release\n\n- `Viewer.language` removed\n")
    old, new = write(tmp_path, "old.graphql", BASE), write(tmp_path, "new.graphql", removed)
    result = CliRunner().invoke(main, ["schema", "diff", "--against", str(old), "--schema", str(new),
                                       "--changelog", str(log)])
    assert result.exit_code == 0, result.output


def test_a_string_replaced_by_an_enum_is_breaking(tmp_path):
    enum = BASE.replace("  kind: String!", "  kind: ViewerKind!") + "\nenum ViewerKind {\n  CITIZEN\n  STAFF\n}\n"
    result = diff(tmp_path, enum)
    assert result.exit_code == 1
    assert "FIELD_CHANGED_KIND: Field Viewer.kind changed type from String! to ViewerKind!." in result.output
    assert diff(tmp_path, enum, unreleased="- `Viewer.kind` is the enum `ViewerKind`.").exit_code == 0


def test_an_added_enum_value_is_dangerous_and_must_be_recorded(tmp_path):
    added = BASE.replace("  NOT_ELIGIBLE\n", "  NOT_ELIGIBLE\n  PENDING\n")
    result = diff(tmp_path, added)
    assert result.exit_code == 1
    assert "DANGEROUS VALUE_ADDED_TO_ENUM: Enum value Outcome.PENDING was added." in result.output
    assert diff(tmp_path, added, unreleased="- `Outcome.PENDING`: no decision yet").exit_code == 0


def test_a_safe_change_passes_without_an_entry(tmp_path):
    result = diff(tmp_path, BASE.replace("  language: String!\n", "  language: String!\n  pilot: String\n"))
    assert result.exit_code == 0, result.output
    assert "no breaking or dangerous change" in result.output


def test_against_a_git_ref(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "schema").mkdir(parents=True)
    write(repo / "schema", "schema.graphql", BASE)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "schema/schema.graphql"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    monkeypatch.chdir(repo)

    result = diff(tmp_path, BASE.replace("  language: String!\n", ""), against="main")
    assert result.exit_code == 1
    assert "against main:schema/schema.graphql" in result.output

    result = diff(tmp_path, BASE, against="no-such-ref")
    assert result.exit_code == 1
    assert "no-such-ref is neither a file nor a git ref holding schema/schema.graphql" in result.output


@pytest.mark.parametrize("bad", ["type Query {", "type Query { a: Missing }"])
def test_an_unreadable_baseline_is_named(tmp_path, bad):
    broken = write(tmp_path, "broken.graphql", bad)
    result = diff(tmp_path, BASE, against=str(broken))
    assert result.exit_code == 1
    assert f"cannot compare with {broken}" in result.output


def test_the_default_baseline_is_the_checked_in_release(monkeypatch):
    # CI compares the code with schema/released.graphql: a clean clone needs no history.
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["schema", "diff", "--schema", "schema/released.graphql"])
    assert result.exit_code == 0, result.output
    assert "no breaking or dangerous change against schema/released.graphql" in result.output


def test_by_default_the_code_is_compared(tmp_path, monkeypatch):
    # Without --schema the new side is the code's schema (core and installed plugins), as CI runs it.
    from perlinsos.graphql.schema import build_schema, export_sdl
    from perlinsos.plugins import PluginManager
    from perlinsos.settings import Settings

    monkeypatch.chdir(ROOT)
    sdl = export_sdl(build_schema(PluginManager(), Settings()))
    log = write(tmp_path, "CHANGELOG.md", CHANGELOG.format(unreleased="- nothing", older="- nothing"))
    same = write(tmp_path, "same.graphql", sdl)
    result = CliRunner().invoke(main, ["schema", "diff", "--against", str(same), "--changelog", str(log)])
    assert result.exit_code == 0, result.output
    older = write(tmp_path, "older.graphql", sdl.replace("type Viewer {\n", "type Viewer {\n  legacy: String\n", 1))
    result = CliRunner().invoke(main, ["schema", "diff", "--against", str(older), "--changelog", str(log)])
    assert result.exit_code == 1
    assert "Field Viewer.legacy was removed.  NOT IN CHANGELOG" in result.output
