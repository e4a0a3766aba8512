"""Fixtures of the browser tests: one headless Chromium, one real run with violations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvs_sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "report-screenshots"
"""Screenshots the tests take, to be looked at (kept out of git with out/)."""


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where the tests put their screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    pytest.importorskip("plotly")
    from kvs_sim.report.browser import Browser, chromium_missing

    missing = chromium_missing()
    if missing:
        pytest.skip(f"no headless browser: {missing}")
    try:
        b = Browser()
    except Exception as e:  # a browser that does not start is a reason to skip, said
        pytest.skip(f"headless Chromium did not start: {type(e).__name__}: {e}")
    with b:
        yield b


@pytest.fixture(scope="session")
def causal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """causal_handoff on 7 ranks, every variant, with --html: the no-wait and
    reported variants break the causal guarantee (not claimed) with evidence."""
    pytest.importorskip("plotly")
    out = tmp_path_factory.mktemp("causal")
    code = main(
        [
            "run",
            str(ROOT / "scenarios" / "causal_handoff.py"),
            "--size",
            "7",
            "--set",
            "rounds=5",
            "--out",
            str(out),
            "--html",
            "--no-plots",
        ]
    )
    assert code == 0
    return out
