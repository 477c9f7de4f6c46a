"""The source tree keeps the core in ``platform/`` without making it a package: a
``platform/__init__.py`` would shadow the standard library's ``platform`` module whenever the
repository root is on ``sys.path`` (``python -c`` from the root, some IDE runners)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_platform_directory_is_not_a_package():
    assert (ROOT / "platform" / "perlinsos").is_dir()
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_stdlib_platform_still_imports():
    import platform

    assert platform.system() and isinstance(platform.system(), str)
    assert Path(platform.__file__).resolve().parent == Path(sysconfig.get_paths()["stdlib"]).resolve()


def test_stdlib_platform_wins_from_the_repository_root():
    # `python -c` puts the current directory first on sys.path: the worst case for shadowing.
    code = "import platform, perlinsos; print(platform.system()); print(platform.__file__)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    system, path = done.stdout.split("\n")[:2]
    assert system and not Path(path).resolve().is_relative_to(ROOT / "platform")
