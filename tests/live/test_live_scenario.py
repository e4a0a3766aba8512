"""``kvs-sim run SCENARIO --live``: an unchanged scenario on real ranks over MQTT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kvs_sim.cli import main
from kvs_sim.history import load
from kvs_sim.live.broker import find_mosquitto

pytestmark = pytest.mark.live

SCENARIOS = Path(__file__).parents[2] / "scenarios"


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    try:
        find_mosquitto()
    except FileNotFoundError as exc:
        pytest.skip(f"live tests need mosquitto: {exc}")


def test_the_headline_scenario_runs_live_and_its_claims_hold(tmp_path: Path) -> None:
    out = tmp_path / "live"
    code = main(
        ["run", str(SCENARIOS / "ryw_vs_stale.py"), "--live", "--size", "7", "--out", str(out)]
    )
    assert code == 0
    history = load(out / "history.jsonl")
    assert history.header.config["mode"] == "live"
    # The ranks reported the roots they applied: every rank reached the last version.
    final = max(r.version for r in history.roots if r.rank == 0)
    assert final >= 21
    assert {r.rank for r in history.roots if r.version == final} == set(range(7))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True
    assert (out / "propagation.png").stat().st_size > 0
    assert not (out / "spacetime.png").exists()  # needs the simulator's tracer


def test_watch_cancel_and_channels_work_live(tmp_path: Path) -> None:
    code = main(
        [
            "run",
            str(SCENARIOS / "causal_handoff.py"),
            "--live",
            "--size",
            "7",
            "--no-plots",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0
    tokens = [
        o.token for o in load(tmp_path / "c" / "get-version" / "history.jsonl").ops if o.token
    ]
    assert tokens  # hand-offs went through a channel and were recorded


def test_live_needs_a_reachable_broker_url(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SCENARIOS / "ryw_vs_stale.py"), "--broker", "mqtt://127.0.0.1:9"])
    assert code == 2
    assert "--broker goes with --live" in capsys.readouterr().err


def test_live_mode_is_told_apart_in_the_header_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto not installed")
    main(["run", str(SCENARIOS / "dropcache_faults.py"), "--live", "--size", "3", "--no-plots",
          "--out", str(tmp_path / "d")])  # fmt: skip
    assert "live MQTT ranks" in capsys.readouterr().out
