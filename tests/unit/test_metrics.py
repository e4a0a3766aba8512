"""Metrics over hand-made histories: exact numbers, depths, and the rich tables."""

from __future__ import annotations

import pytest

from kvs_sim import metrics
from kvs_sim.history import History, Recorder


def small() -> History:
    """Size 4, fanout 2 (ranks 1, 2 at depth 1, rank 3 at depth 2); two versions."""
    rec = Recorder(config={"size": 4, "fanout": 2})
    c1 = rec.invoke(process="p1", rank=3, op="commit", writes={"x": 1}, time=0.0)
    rec.root(rank=0, version=1, time=1.0)
    rec.root(rank=1, version=1, time=1.5)
    rec.root(rank=2, version=1, time=2.0)
    rec.root(rank=3, version=1, time=2.5)
    rec.complete(c1, time=2.5, version=1, reported_version=0)
    for p in ("p2", "p3"):  # two commits merged into version 2
        rec.op(process=p, rank=0, op="commit", writes={"y": p}, invoke=3.0, complete=4.0, version=2)
    rec.root(rank=0, version=2, time=4.0)
    rec.root(rank=1, version=2, time=4.25)
    rec.root(rank=2, version=2, time=5.0)
    # reads: rank 3 at 4.5 still serves version 1 (one behind), then version 2 never
    rec.op(process="r", rank=3, op="get", key="x", value=1, version=1, invoke=4.5, complete=4.75)
    rec.op(process="r", rank=3, op="get", key="x", value=1, version=1, invoke=6.0, complete=6.5)
    rec.op(process="q", rank=1, op="get", key="y", value="p2", version=2, invoke=4.5, complete=5.0)
    rec.op(
        process="q", rank=1, op="get", key="zz", version=0, invoke=0.5, complete=0.6, error="ENOENT"
    )  # before any version was created: no staleness sample
    return rec.history()


def test_summarize_uses_nearest_rank_p99() -> None:
    assert metrics.summarize([]) == {
        "count": 0,
        "mean": None,
        "median": None,
        "p99": None,
        "max": None,
    }
    s = metrics.summarize(range(1, 101))
    assert s == {"count": 100, "mean": 50.5, "median": 50.5, "p99": 99, "max": 100}
    assert metrics.summarize([3.0])["p99"] == 3.0


def test_depths_from_config_list_or_kary_tree() -> None:
    assert metrics.rank_depths(small()) == {0: 0, 1: 1, 2: 1, 3: 2}
    listed = History(Recorder(config={"depth": [0, 1, 1, 1]}).header)
    assert metrics.rank_depths(listed) == {0: 0, 1: 1, 2: 1, 3: 1}
    flat = History(Recorder(config={"size": 5, "fanout": 32}).header)
    assert metrics.rank_depths(flat) == {0: 0, 1: 1, 2: 1, 3: 1, 4: 1}
    assert metrics.rank_depths(History(Recorder(config={"size": 3}).header)) == {}


def test_propagation_latency_by_rank_and_depth() -> None:
    m = metrics.propagation_latency(small())
    assert [(s["rank"], s["version"], s["latency"]) for s in m["samples"]] == [
        (1, 1, 0.5),
        (2, 1, 1.0),
        (3, 1, 1.5),
        (1, 2, 0.25),
        (2, 2, 1.0),
    ]
    assert m["all"]["count"] == 5 and m["all"]["max"] == 1.5
    assert [(d["depth"], d["count"], d["mean"]) for d in m["by_depth"]] == [
        (1, 4, 0.6875),
        (2, 1, 1.5),
    ]
    assert [(r["rank"], r["depth"], r["median"]) for r in m["by_rank"]] == [
        (1, 1, 0.375),
        (2, 1, 1.0),
        (3, 2, 1.5),
    ]


def test_read_staleness_in_versions_and_time() -> None:
    hist = small()
    v = metrics.read_staleness_versions(hist)
    assert [(s["rank"], s["version"], s["latest"], s["staleness"]) for s in v["samples"]] == [
        (3, 1, 2, 1),
        (3, 1, 2, 1),
        (1, 2, 2, 0),
    ]
    assert v["all"]["mean"] == pytest.approx(2 / 3)
    t = metrics.read_staleness_time(hist)
    assert [(s["rank"], s["version"], s["delay"]) for s in t["samples"]] == [
        (1, 2, 1.0),
        (3, 1, 3.75),
    ]


def test_commit_latency_merge_ratio_and_convergence() -> None:
    hist = small()
    c = metrics.commit_latency(hist)
    assert [(s["rank"], s["depth"], s["latency"]) for s in c["samples"]] == [
        (3, 2, 2.5),
        (0, 0, 1.0),
        (0, 0, 1.0),
    ]
    assert metrics.merge_ratio(hist) == {
        "commits": 3,
        "versions": 2,
        "ratio": 1.5,
        "by_ns": [{"ns": "primary", "commits": 3, "versions": 2, "ratio": 1.5}],
    }
    assert metrics.convergence_times(hist) == [
        {
            "ns": "primary",
            "final": 2,
            "created": 4.0,
            "converged_at": None,
            "convergence_time": None,
            "ranks_reached": 3,
            "ranks_total": 4,
            "missing": [3],
        }
    ]


def test_convergence_time_when_every_rank_gets_there() -> None:
    rec = Recorder(config={"size": 2})
    rec.root(rank=0, version=3, time=1.0)
    rec.root(rank=1, version=3, time=1.75)
    (row,) = metrics.convergence_times(rec.history())
    assert row["converged_at"] == 1.75 and row["convergence_time"] == 0.75 and not row["missing"]


def test_compute_metrics_and_tables() -> None:
    from rich.console import Console

    m = metrics.compute_metrics(small())
    assert set(m) == {
        "propagation",
        "staleness_versions",
        "staleness_time",
        "commit_latency",
        "merge",
        "convergence",
    }
    tables = metrics.render_tables(m)
    assert len(tables) == 6
    console = Console(record=True, width=120)
    for t in tables:
        console.print(t)
    out = console.export_text()
    assert "Setroot propagation" in out and "depth 2" in out and "3/4 (missing 3)" in out
    empty = metrics.compute_metrics(History(Recorder().header))
    assert metrics.render_tables(empty) == []
    assert empty["merge"]["ratio"] is None


def test_public_surface_is_pinned() -> None:
    assert sorted(metrics.__all__) == [
        "K_GRID",
        "T_GRID",
        "commit_latency",
        "compute_metrics",
        "convergence_times",
        "k_staleness",
        "merge_ratio",
        "propagation_latency",
        "rank_depths",
        "read_staleness_time",
        "read_staleness_versions",
        "render_tables",
        "summarize",
        "t_visibility",
        "visibility_delays",
    ]
