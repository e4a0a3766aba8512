"""The default model against real Flux figures (bench/calibration.py), in virtual time."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "calibration.py"

# Headline rows: the simulated value (virtual time: exact, pinned) and the real one.
HEADLINE = {
    "commit_rank0_size1": 0.5,
    "commit_deepest_binary": 0.86,
    "lookup_64_in_flight": 39906.469212781936,
    "concurrent_8_size1": 9110.579660630856,
    "setroot_lag_binary": 0.315,
    "first_read_binary": 3.1,
}


def calibration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("calibration", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_real_figures_are_data_with_their_provenance() -> None:
    data = json.loads((BENCH.parent / "data" / "flux_figures.json").read_text())
    assert "flux-kvs-model.md" in data["source"]
    ids = [f["id"] for f in data["figures"]]
    assert set(HEADLINE) <= set(ids) and len(ids) == len(set(ids)) == 15
    assert set(ids) == set(calibration().experiments())


@pytest.mark.parametrize("row", sorted(HEADLINE))
def test_a_headline_row_is_pinned_and_within_30_percent(row: str) -> None:
    cal = calibration()
    real = next(f for f in cal.figures() if f["id"] == row)
    simulated = cal.experiments()[row]()
    assert simulated == pytest.approx(HEADLINE[row], rel=1e-9)
    assert abs(simulated / real["value"] - 1.0) <= cal.TOLERANCE
