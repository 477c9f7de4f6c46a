"""``perlinsos plugin new``: each kind of plugin the template writes installs into a fresh virtual
environment (``pip install -e``, offline: the environment sees this project's packages through a
``.pth`` file) and passes its own tests there with the perlinsos.testing kit; the listing in that
environment shows it. Refusals (a bad name, a built-in's name, a non-empty directory) through click."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

from perlinsos.cli import main
from perlinsos.commands.plugins import BUILTIN_PLUGINS, KINDS

NAMES = {"criterion": "jember_lahan", "channel": "jember_wa", "signin": "jember_sso"}


def _run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _fresh_venv(path: Path) -> Path:
    """A new virtual environment that sees this project's site-packages (perlinsos, its dependencies,
    pytest, pip, setuptools) through a .pth file, so nothing is downloaded; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    purelib = sysconfig.get_paths(vars={"base": str(path), "platbase": str(path)})["purelib"]
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # addsitedir, not a bare path: the project's own .pth files (its editable install) must run too.
    Path(purelib, "perlinsos_project.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in sorted(ours)), encoding="utf-8")
    return path / "bin" / "python"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PERLINSOS_", "PYTHON", "VIRTUAL_ENV")) or k == "PERLINSOS_TEST_DATABASE_URL"}
    return env | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_INDEX": "1",
                  "PERLINSOS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'perlinsos.db'}"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_installs_into_a_fresh_venv_and_passes_its_own_tests(kind, tmp_path):
    name = NAMES[kind]
    target = tmp_path / f"perlinsos-{name.replace('_', '-')}"
    written = CliRunner().invoke(main, ["plugin", "new", name, "--kind", kind, "--directory", str(target),
                                        "--region", "Kabupaten Jember", "--author", "Dinsos Jember"])
    assert written.exit_code == 0, written.output
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert {"pyproject.toml", "README.md", ".gitignore", f"perlinsos_{name}/__init__.py", f"perlinsos_{name}/settings.py",
            "tests/conftest.py", "tests/test_plugin.py"} <= set(files), files
    assert not [f for f in files if f.endswith(".tmpl")]
    assert f'{name} = "perlinsos_{name}"' in (target / "pyproject.toml").read_text(encoding="utf-8")

    python, env = _fresh_venv(tmp_path / "venv"), _env(tmp_path)
    installed = _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e",
                      str(target)], env=env, cwd=tmp_path, timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tested = _run([str(python), "-m", "pytest", "-p", "no:cacheprovider", str(target / "tests")],
                  env=env, cwd=target, timeout=240)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout and " failed" not in tested.stdout, tested.stdout[-2000:]
    assert "perlinsos.testing: " in tested.stdout  # the kit's pytest11 plugin loaded (its report header)
    listed = _run([str(python), "-m", "perlinsos.cli", "plugins"], env=env, cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert f"{name}  [perlinsos-{name.replace('_', '-')} 0.1.0]" in listed.stdout, listed.stdout


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["plugin", "new", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("name", "why"), [
    ("Jember-Lahan", "invalid plugin name 'Jember-Lahan': use lower-case letters, digits and single underscores, "
                     "starting with a letter, e.g. jember_lahan (did you mean jember_lahan?)"),
    ("2lahan", "invalid plugin name '2lahan'"), ("jember__lahan", "invalid plugin name"),
    ("lahan_", "invalid plugin name"), ("import", "a Python keyword"), ("x" * 41, "at most 40 characters"),
])
def test_an_invalid_name_is_refused(name, why, tmp_path):
    code, output = _new(name, "--directory", str(tmp_path / "out"))
    assert code == 1 and why in output, output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", BUILTIN_PLUGINS)
def test_a_built_in_plugins_name_is_refused(name, tmp_path):
    code, output = _new(name, "--directory", str(tmp_path / "out"))
    assert code == 1 and f"plugin name {name!r} is taken by a built-in plugin" in output, output
    assert not (tmp_path / "out").exists()


def test_a_non_empty_directory_is_never_written_to(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine", encoding="utf-8")
    code, output = _new("jember_lahan", "--directory", str(tmp_path / "out"))
    assert code == 1 and "already exists and is not empty: nothing was written" in output, output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code, output = _new("jember_lahan", "--directory", str(tmp_path / "file"))
    assert code != 0 and "is a file" in output, output


def test_the_default_directory_and_an_empty_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = _new("jember_lahan")
    assert code == 0, output
    assert (tmp_path / "perlinsos-jember-lahan" / "perlinsos_jember_lahan" / "criterion.py").is_file()
    (tmp_path / "empty").mkdir()
    assert _new("jember_wa", "--kind", "channel", "--directory", "empty")[0] == 0
    assert (tmp_path / "empty" / "perlinsos_jember_wa" / "channel.py").is_file()
