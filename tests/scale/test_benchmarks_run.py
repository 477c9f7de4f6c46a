"""The comparison benchmarks still run and still compare like with like.

Nothing else runs ``bench/`` in CI, and four benchmarks had stopped working unnoticed: the
selection baseline's summary lacked fields the platform had gained, the SMS baseline built a text
the plugin no longer sends, and the registration benchmark's server refused the bundled development
secrets. Each benchmark checks after its run that both sides did the same work (same decisions,
digests and audit chain; every message once at the gateway, the same text per key) and exits 2 when
they did not, so a run at a tiny size here is a test of the baselines' fairness, not of speed: the
figures are ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("PERLINSOS_TEST_DATABASE_URL")


def bench(script: str, *args: str, timeout: float = 240) -> str:
    database = ["--database-url", PG] if PG else []
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, *database], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"bench/{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_selection_benchmark_sides_decide_alike():
    out = bench("selection.py", "--sizes", "600", "--chunk", "200")
    assert "same decisions on both sides (600 digests" in out


def test_notification_benchmark_sides_send_alike():
    out = bench("notify.py", "--n", "120", "--warmup", "10", "--rounds", "2")
    assert "each simulator received exactly 130 messages" in out
    assert "every outbox row SENT after one attempt" in out


@pytest.mark.skipif(PG is None, reason="--workers runs on PostgreSQL only")
def test_selection_workers_decide_each_registration_once():
    out = bench("selection.py", "--sizes", "600", "--chunk", "100", "--workers", "2", "--partition-size", "100")
    assert "every registration decided exactly once" in out
