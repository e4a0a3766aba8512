"""The fault scenarios on live ranks (``kvs-sim run SCENARIO --live``): each injects
its nemeses from its own code (``cluster.inject``), and its report and history
come out as in a simulation: nemesis records, verdicts, findings.  Small and
short: one variant each, 7 ranks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvs_sim.cli import main
from kvs_sim.history import load
from kvs_sim.live.broker import Broker
from kvs_sim.live.scenario import run_variant_live
from kvs_sim.scenario import VariantRun, load_scenario

pytestmark = pytest.mark.live

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def _run(broker: Broker, name: str, variant: str, processes: int = 3, **cli: Any) -> VariantRun:
    scenario = load_scenario(SCENARIOS / f"{name}.py")
    return run_variant_live(
        scenario, {"size": 7, **cli}, variant, broker_url=broker.url, processes=processes
    )


def _held(run: VariantRun) -> None:
    assert run.violated == [], [v for v in run.verdicts if v.guarantee in run.violated]
    claimed = {v.guarantee: v.held for v in run.verdicts if v.guarantee in run.claims}
    assert claimed.get("convergence") is True, claimed


def test_partition_heal_drop_recovers_by_refetching_the_roots(broker: Broker) -> None:
    # The cut-off ranks miss the setroots dropped at the cut; at the heal they are
    # told the peer is back and fetch the current root (this variant used to hang).
    # Two processes: rank 2 (cut off at depth 1) shares rank 0's, where the first
    # setroot after the inject used to reach it in-process before the partition did.
    run = _run(broker, "partition_heal", "drop", processes=2, partition=0.3, gap=0.02)
    cuts = [n for n in run.history.nemeses if n.name == "partition"]
    assert len(cuts) == 2  # one per depth below rank 0 on a 7-rank binary tree
    assert all(n.detail["mode"] == "drop" and n.end is not None for n in cuts)
    assert all(0.25 < n.end - n.start < 1.0 for n in cuts)
    rows = run.findings["by depth"]
    assert [r["depth cut"] for r in rows] == [1, 2]
    assert all(r["versions behind just before the heal"] >= 1 for r in rows)
    for r in rows:  # the reader's root never moved during the cut: every read stale
        stale, reads = r["stale reads during the cut"].split("/")
        assert stale == reads and r["reads failed EHOSTUNREACH"] == 0, r
    assert all(r["recovery after the heal (ms)"] < 2000 for r in rows)  # not the 2 s retry
    _held(run)


def test_partition_heal_hold_delivers_what_was_held(broker: Broker) -> None:
    run = _run(broker, "partition_heal", "hold", partition=0.3, gap=0.02)
    assert [n.detail["mode"] for n in run.history.nemeses] == ["hold", "hold"]
    _held(run)


def test_leader_crash_inside_its_process_lists_what_it_lost(broker: Broker) -> None:
    run = _run(broker, "leader_crash", "no-checkpoint", writers=2, commits=30, gap=0.005)
    (crash,) = run.history.nemeses
    assert crash.name == "crash" and crash.ranks == (0,)
    d = crash.detail
    assert d["in_process"] is True and d["epoch"] == 1 and d["checkpoint"] == 0
    assert d["lost_versions"] and d["lost_ops"]
    f = run.findings
    assert f["acknowledged commits lost in the crash"] == len(d["lost_ops"])
    assert f["read-your-writes checks after the restart"] >= 1
    _held(run)


def test_leader_crash_with_sync_loses_nothing(broker: Broker) -> None:
    run = _run(broker, "leader_crash", "sync", writers=2, commits=30, gap=0.005)
    (crash,) = run.history.nemeses
    assert crash.detail["lost_versions"] == [] and crash.detail["lost_ops"] == []
    assert crash.detail["checkpoint"] >= 1
    assert run.findings["acknowledged commits lost in the crash"] == 0
    _held(run)


def test_slow_interior_delays_the_slow_subtree_live(broker: Broker) -> None:
    # Rank 1 stays busy 199 times the modelled service time of each message
    # (a load served is 120 us there): the faults below it wait for it.
    run = _run(broker, "slow_interior", "slow", keys=5, factor=200.0)
    (slow,) = run.history.nemeses
    assert slow.name == "slow" and slow.ranks == (1,) and slow.detail["factor"] == 200.0
    assert slow.end is not None  # healed at the end of the run
    assert run.findings["cold reads, slow subtree / sibling subtree"] > 1.5, run.findings
    _held(run)


def test_pause_race_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "pause"
    argv = ["run", str(SCENARIOS / "pause_race.py"), "--live", "--size", "7"]
    assert main([*argv, "--set", "pause=0.3", "--no-plots", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True and summary["mode"] == "live"
    runs = {r["variant"]: r for r in summary["runs"]}
    assert runs["no-wait"]["findings"]["stale read (the race lost)"] is True
    assert runs["wait-version"]["findings"]["reader read right after the hand-off"] == 1
    assert runs["wait-version"]["guarantees"]["causal"]["verdict"] == "held"
    for v in ("no-wait", "wait-version"):
        (pause,) = load(out / v / "history.jsonl").nemeses
        assert pause.name == "pause" and pause.ranks == (6,)
        assert pause.end is not None and pause.end - pause.start >= 0.25
