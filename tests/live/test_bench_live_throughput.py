"""bench/live_throughput.py runs end to end (briefly) and prints the figures the
docs quote: a guard against the benchmark rotting, not a measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

BENCH = Path(__file__).resolve().parents[2] / "bench" / "live_throughput.py"


def test_live_throughput_bench_prints_its_figures() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--seconds", "0.2", "--limit", "40"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    for key in ("commits_per_s_rank0", "commits_per_s_deepest"):
        assert result[key] > 0
    assert result["setroot_lag_ms"]["median_ms"] is not None
    for where in ("rank0", "deepest"):
        assert result["requests"][where]["per_s"] > 0
        cpu = result["cpu_ms_per_commit"][where]
        assert {"client", "broker", "ranks low", "ranks high"} <= set(cpu)
    assert result["mqtt_publishes_per_commit"] == {"rank0": 3.0, "deepest": 5.0}
    assert result["event_loop"] in ("uvloop", "asyncio")
    assert "never retrieved" not in run.stderr
