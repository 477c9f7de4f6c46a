"""``perlinsos schema diff``: breaking and dangerous changes of the GraphQL contract, each of which
must be recorded in schema/CHANGELOG.md.

The baseline is by default ``schema/released.graphql``, the SDL of the last release (replaced when a
release is cut), so CI on a clean clone without history can run it. ``--against`` also takes another
file or a git ref (``main``, ``origin/main``, a tag), read with ``git show REF:schema/schema.graphql``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click

DEFAULT_BASELINE = Path("schema/released.graphql")
DEFAULT_CHANGELOG = Path("schema/CHANGELOG.md")
SCHEMA_IN_GIT = "schema/schema.graphql"

# The first `Type.member` (or `@directive`) a graphql-core change description names; failing that,
# the first type-like name after the description's leading words ("Field", "Enum value", ...).
_MEMBER = re.compile(r"@?[_A-Za-z]\w*\.[_A-Za-z]\w*|@[_A-Za-z]\w*")
_NAME = re.compile(r"[_A-Za-z]\w*")
_LEADING = {"A", "An", "Field", "Argument", "Enum", "value", "Directive", "Standard", "scalar", "required",
            "optional", "field", "argument"}


@dataclass(frozen=True)
class Change:
    severity: str  # BREAKING or DANGEROUS
    kind: str  # graphql-core's change type, e.g. FIELD_REMOVED
    description: str
    subject: str  # what the CHANGELOG must name, e.g. Viewer.kind

    def line(self) -> str:
        return f"{self.severity} {self.kind}: {self.description}"


def subject_of(description: str) -> str:
    member = _MEMBER.search(description)
    if member:
        return member.group(0)
    for name in _NAME.findall(description):
        if name not in _LEADING:
            return name
    return description


def schema_changes(old_sdl: str, new_sdl: str) -> list[Change]:
    from graphql import build_schema, find_breaking_changes, find_dangerous_changes

    old, new = build_schema(old_sdl), build_schema(new_sdl)
    found = [("BREAKING", c) for c in find_breaking_changes(old, new)]
    found += [("DANGEROUS", c) for c in find_dangerous_changes(old, new)]
    return [Change(severity, change.type.name, change.description, subject_of(change.description))
            for severity, change in found]


def recorded_text(changelog: str) -> str:
    """The section a change may be recorded in: "Unreleased", or the newest release without one.

    Cutting a release renames "Unreleased" to the release's heading; until schema/released.graphql
    is replaced in the same change, the changes are recorded there.
    """
    sections = re.split(r"(?m)^## ", changelog)[1:]
    unreleased = [s for s in sections if s.lower().startswith("unreleased")]
    return (unreleased or sections or [""])[0]


def mentions(text: str, subject: str) -> bool:
    # A whole name: `Viewer.kind` is not recorded by `Viewer.kindName`, nor `Outcome` by `OutcomeCount`.
    return re.search(rf"(?<![\w.@]){re.escape(subject)}(?![\w])", text) is not None


def read_baseline(against: str) -> tuple[str, str]:
    """(SDL, where it came from) for a file path or a git ref."""
    path = Path(against)
    if path.is_file():
        return path.read_text(encoding="utf-8"), str(path)
    try:
        root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                              check=True).stdout.strip()
        shown = subprocess.run(["git", "-C", root, "show", f"{against}:{SCHEMA_IN_GIT}"], capture_output=True,
                               text=True, check=True)
    except FileNotFoundError:
        raise click.ClickException(f"{against} is not a file, and git is not installed to read it as a ref")
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "").strip().splitlines()
        raise click.ClickException(f"{against} is neither a file nor a git ref holding {SCHEMA_IN_GIT}"
                                   + (f" ({detail[-1]})" if detail else ""))
    return shown.stdout, f"{against}:{SCHEMA_IN_GIT}"


def current_sdl() -> str:
    """The SDL of the code: the core and the installed plugins, as `schema export` writes it."""
    from perlinsos.commands.common import fail, load_plugins, load_settings
    from perlinsos.errors import ConfigurationError
    from perlinsos.graphql.schema import build_schema, export_sdl

    settings = load_settings()
    try:
        return export_sdl(build_schema(load_plugins(settings), settings))
    except ConfigurationError as exc:
        fail(exc)
        raise  # pragma: no cover  (fail exits)


@click.command("diff")
@click.option("--against", default=str(DEFAULT_BASELINE), show_default=True, metavar="PATH|GIT-REF",
              help="The baseline: an SDL file, or a git ref whose schema/schema.graphql is read (e.g. origin/main).")
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The new SDL; default: the schema of the code (core and installed plugins).")
@click.option("--changelog", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_CHANGELOG, show_default=True)
def schema_diff(against: str, schema_path: Path | None, changelog: Path) -> None:
    """Breaking and dangerous changes since the baseline; fails unless CHANGELOG names each one.

    A change is recorded when the "Unreleased" section of CHANGELOG (or the newest release) names
    its type and field, e.g. `Viewer.kind`, or the type for a removed type.
    """
    old_sdl, source = read_baseline(against)
    new_sdl = schema_path.read_text(encoding="utf-8") if schema_path else current_sdl()
    try:
        changes = schema_changes(old_sdl, new_sdl)
    except Exception as exc:  # graphql-core's syntax and validation errors: name the file
        raise click.ClickException(f"cannot compare with {source}: {exc}")
    text = recorded_text(changelog.read_text(encoding="utf-8"))
    missing = [c for c in changes if not mentions(text, c.subject)]
    for change in changes:
        mark = "  NOT IN CHANGELOG" if change in missing else ""
        click.echo(f"{change.line()}{mark}")
    if missing:
        names = ", ".join(sorted({c.subject for c in missing}))
        raise click.ClickException(
            f"{len(missing)} breaking or dangerous change(s) against {source} are not recorded under "
            f"\"Unreleased\" in {changelog}: name {names} there")
    click.echo(f"{len(changes)} breaking or dangerous change(s) against {source}, all recorded in {changelog}"
               if changes else f"no breaking or dangerous change against {source}")
