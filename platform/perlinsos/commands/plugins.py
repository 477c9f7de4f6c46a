"""What is installed (``perlinsos plugins``), and a new plugin from the template (``perlinsos plugin new``)."""

from __future__ import annotations

import asyncio
import keyword
import re
import string
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError


@click.command("plugins")
@database_option
def plugins_cmd(database_url: str | None) -> None:
    """List installed plugins, the hooks each implements, and the pilots that enable it."""
    settings = load_settings(database_url)
    try:
        manager = load_plugins(settings)
    except ConfigurationError as exc:
        fail(exc)
    enabled_by: dict[str, list[str]] = {}
    try:
        from perlinsos.pilots.service import stored_pilots

        for row in asyncio.run(stored_pilots(settings)):
            for name in row.plugins:
                enabled_by.setdefault(name, []).append(row.code)
    except Exception as exc:  # noqa: BLE001 - listing plugins must work without a database
        click.echo(f"(pilots not shown: {exc})", err=True)
    for name in manager.names():
        click.echo(f"{name}  [{manager.sources[name]}]")
        click.echo(f"  hooks:  {', '.join(manager.hooks_of(name)) or '(none)'}")
        click.echo(f"  pilots: {', '.join(enabled_by.get(name, [])) or '(none)'}")


# --- perlinsos plugin new -------------------------------------------------------------------------

#: The built-in plugins' names (pyproject.toml, entry points ``perlinsos``) and the test kit's sign-in.
BUILTIN_PLUGINS = ("appeals", "criteria", "ikd", "notify_sms", "oidc", "perlinsos_test_signin")
#: What each ``--kind`` generates (the template directory of the same name, beside ``common``).
KINDS = {
    "criterion": "eligibility_criteria + collect_facts (facts read in batches from an HTTP data service)",
    "channel": "notification_channels (a Channel that posts to an HTTP message gateway)",
    "signin": "identity_providers + authenticate (a regional sign-in by token introspection)",
}
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_NAME_MAX = 40
_TEMPLATES = "templates/plugin"
_PACKAGE_DIR = "__package__"  # a template directory renamed to the plugin's package
_SUFFIX = ".tmpl"


class TemplateError(click.ClickException):
    """A name, target or template the command refuses (exit status 1, the reason on stderr)."""


def check_name(name: str) -> str:
    """``name`` when it can name a plugin (entry point, ``[plugins.<name>]``, package suffix);
    :class:`TemplateError` saying why not otherwise."""
    hint = "use lower-case letters, digits and single underscores, starting with a letter, e.g. jember_lahan"
    if not _NAME.fullmatch(name):
        suggestion = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        better = f" (did you mean {suggestion}?)" if suggestion and _NAME.fullmatch(suggestion) else ""
        raise TemplateError(f"invalid plugin name {name!r}: {hint}{better}")
    if len(name) > _NAME_MAX:
        raise TemplateError(f"invalid plugin name {name!r}: at most {_NAME_MAX} characters")
    if keyword.iskeyword(name):
        raise TemplateError(f"invalid plugin name {name!r}: a Python keyword")
    if name in BUILTIN_PLUGINS:
        raise TemplateError(f"plugin name {name!r} is taken by a built-in plugin "
                            f"({', '.join(BUILTIN_PLUGINS[:-1])}): choose another, e.g. {name}_jember")
    installed = {ep.name: ep for ep in metadata.entry_points(group="perlinsos")}
    if name in installed:
        dist = installed[name].dist
        by = f"{dist.name} {dist.version}" if dist is not None else installed[name].value
        raise TemplateError(f"plugin name {name!r} is taken by an installed plugin ({by}): choose another")
    return name


def template_values(name: str, kind: str, region: str | None, author: str | None) -> dict[str, str]:
    """The ``$placeholders`` of the templates for plugin ``name``."""
    from importlib.metadata import PackageNotFoundError, version

    words = name.split("_")
    try:
        platform_version = version("perlinsos")
    except PackageNotFoundError:  # pragma: no cover - the command runs from an installed perlinsos
        platform_version = "0.1.0"
    region = " ".join((region or "").split()) or "Kabupaten Contoh"
    author = " ".join((author or "").split())
    return {
        "name": name,
        "dist": "perlinsos-" + name.replace("_", "-"),
        "package": "perlinsos_" + name,
        "title": " ".join(w.capitalize() for w in words),
        "class_prefix": "".join(w.capitalize() for w in words),
        "code": name.upper(),
        "kind": kind,
        "region": region,
        "author": author or "(author)",
        "authors_line": f'authors = [{{ name = "{_toml_escape(author)}" }}]\n' if author else "",
        "region_toml": _toml_escape(region),
        "region_py": repr(region),
        "perlinsos_version": platform_version,
    }


def _toml_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_plugin(name: str, kind: str, directory: Path, *, region: str | None = None,
                  author: str | None = None) -> list[Path]:
    """Write the plugin distribution for ``name`` of ``kind`` into ``directory`` (absent or empty);
    returns the files written."""
    check_name(name)
    if kind not in KINDS:
        raise TemplateError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise TemplateError(f"{directory} already exists and is not empty: nothing was written "
                            "(choose another --directory, or remove it yourself)")
    values = template_values(name, kind, region, author)
    root = resources.files("perlinsos").joinpath(_TEMPLATES)
    files: dict[Path, str] = {}
    for part in ("common", kind):
        for relative, source in _walk(root.joinpath(part)):
            target = Path(*(values["package"] if p == _PACKAGE_DIR else p for p in relative.parts))
            target = target.with_name(target.name.removesuffix(_SUFFIX))
            try:
                files[target] = string.Template(source.read_text(encoding="utf-8")).substitute(values)
            except (KeyError, ValueError) as exc:  # a template bug, not the user's
                raise TemplateError(f"template {part}/{relative}: bad placeholder {exc}") from None
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for target, text in sorted(files.items()):
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # never overwrite
            out.write(text)
        written.append(path)
    return written


def _walk(node: Traversable, prefix: Path = Path()) -> list[tuple[Path, Traversable]]:
    found = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            if child.name != "__pycache__":
                found.extend(_walk(child, prefix / child.name))
        elif child.name.endswith(_SUFFIX):
            found.append((prefix / child.name, child))
    return found


@click.group("plugin")
def plugin() -> None:
    """Write a new plugin (``perlinsos plugins`` lists the installed ones)."""


@plugin.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(KINDS)), default="criterion", show_default=True,
              help="The hook family: " + "; ".join(f"{k}: {v}" for k, v in KINDS.items()) + ".")
@click.option("--directory", "-d", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write it (absent or empty)  [default: ./perlinsos-<name, with hyphens>]")
@click.option("--region", default=None, metavar="TEXT",
              help='The region it is for, as citizens read it, e.g. "Kabupaten Jember".')
@click.option("--author", default=None, metavar="TEXT", help="The author (the team) in pyproject.toml.")
def plugin_new(name: str, kind: str, directory: Path | None, region: str | None, author: str | None) -> None:
    """Write a pip-installable plugin distribution NAME (e.g. jember_lahan) from the template.

    NAME is the plugin's name: its entry point in the group ``perlinsos`` and the table a pilot
    enables it with (``[plugins.NAME]``); the distribution is perlinsos-NAME (hyphens) and the
    package perlinsos_NAME. It has a settings model, one hook family (--kind), texts in Bahasa
    Indonesia and English, tests using perlinsos.testing, and a README.
    """
    check_name(name)
    target = directory if directory is not None else Path("perlinsos-" + name.replace("_", "-"))
    written = render_plugin(name, kind, target, region=region, author=author)
    click.echo(f"wrote {len(written)} files to {target}/ ({kind}: {KINDS[kind]})")
    click.echo("next:")
    click.echo(f"  cd {target}")
    click.echo("  pip install -e .        # into the platform's environment")
    click.echo("  pytest                  # its tests, with the perlinsos.testing kit")
    click.echo(f"  perlinsos plugins       # lists {name}")
