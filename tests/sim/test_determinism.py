"""Same configuration and seed, same trace, even across interpreter processes
with different string-hash seeds (nothing may depend on set or dict order of
hashed values)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).parents[2] / "scenarios" / "commit_merging.py"


def _history(tmp: Path, hashseed: str, seed: int) -> bytes:
    out = tmp / f"h{hashseed}-{seed}"
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    cmd = [sys.executable, "-m", "kvs_sim", "run", str(SCENARIO), "--size", "7"]
    cmd += ["--seed", str(seed), "--no-plots", "--out", str(out)]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    return b"".join(p.read_bytes() for p in sorted(out.rglob("history.jsonl")))


def test_one_seed_one_history_whatever_the_hash_seed(tmp_path: Path) -> None:
    first = _history(tmp_path, "1", seed=3)
    assert first
    assert _history(tmp_path, "2", seed=3) == first
    assert _history(tmp_path, "2", seed=4) != first
