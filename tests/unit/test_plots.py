"""Each plot writes a non-empty PNG from a small synthetic input; the helpers feeding them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kvs_sim import plots
from kvs_sim.history import History, Recorder

PNG = b"\x89PNG\r\n\x1a\n"
BINARY7 = [-1, 0, 0, 1, 1, 2, 2]


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG and path.stat().st_size > 2000


def test_importing_plots_does_not_import_matplotlib() -> None:
    code = "import sys, kvs_sim.plots, kvs_sim.commands.run; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tree_layout_centres_parents_over_children() -> None:
    pos = plots.tree_layout(BINARY7)
    assert [pos[r][1] for r in range(7)] == [0, -1, -1, -2, -2, -2, -2]
    leaves = sorted(pos[r][0] for r in (3, 4, 5, 6))
    assert leaves == [0, 1, 2, 3]
    assert pos[1][0] == (pos[3][0] + pos[4][0]) / 2
    assert pos[0][0] == (pos[1][0] + pos[2][0]) / 2
    deep = plots.tree_layout([-1, *range(0, 2999)])  # a chain: no recursion limit
    assert deep[2999][1] == -2999


def test_plot_propagation(tmp_path: Path) -> None:
    applied = {0: 1.0, 1: 1.0003, 2: 1.0003, 3: 1.0006, 4: 1.0006, 5: 1.0006}  # 6 missed it
    out = plots.plot_propagation(
        BINARY7, applied, tmp_path / "p.png", version=4, created=1.0, committers=[5]
    )
    assert out == tmp_path / "p.png" and is_png(out)
    big = plots.plot_propagation(
        [-1] + [(r - 1) // 32 for r in range(1, 200)],
        {r: 0.001 * (r > 0) for r in range(200)},
        tmp_path / "big.png",
        version=1,
        created=0.0,
        title="no labels on a big tree",
        note="fanout 32",
    )
    assert is_png(big)


def test_plot_staleness_one_row_per_series(tmp_path: Path) -> None:
    series: dict[str, dict[str, list[tuple[int | None, float]]]] = {
        "fast": {
            "propagation": [(1, 2e-4), (1, 3e-4), (2, 4e-4), (2, 5e-4)],
            "read_age": [(0, 0.0), (1, 0.0), (1, 1e-4), (2, 0.0), (2, 3e-4), (None, 0.0)],
        },
        "empty": {"propagation": [], "read_age": []},
    }
    assert is_png(plots.plot_staleness(series, tmp_path / "s.png", title="two runs"))
    assert is_png(plots.plot_staleness({"": series["fast"]}, tmp_path / "one.png"))


def test_plot_spacetime_caps_the_arrows(tmp_path: Path) -> None:
    log = [
        (0.00002, plots.CLIENT, 3, "CommitReq"),
        (0.00030, 3, 0, "RelayCommit"),
        (0.00031, 0, 0, "Timer"),
        (0.00050, 0, 1, "SetRoot"),
        (0.00050, 0, 1, "RelayCommitResp"),  # same ends and times: drawn bent
        (0.00060, 1, 3, "SetRoot"),
        (0.00062, 3, plots.CLIENT, "Reply"),
        (0.00070, plots.BROKER, 2, "SetRoot"),
        (0.00080, 2, 5, "LoadReq"),  # 5 is not a lane: not drawn
    ]
    log += [(0.001 + i * 1e-5, 0, 1, "SetRoot") for i in range(500)]
    out = plots.plot_spacetime(
        log,
        tmp_path / "st.png",
        lanes=[3, 1, 0, 2],
        window=(0.0, 0.01),
        transit=lambda s, d, name: 1e-4,
        max_arrows=50,
        lane_labels={0: "rank 0 (leader)"},
        handoffs=[(0.00062, 3, 0.00063, 2)],
        labels=[(0.00062, 3, "committed v1"), (0.0007, 2, "x=1 (v1)")],
        note="test",
    )
    assert is_png(out)
    # Default lanes, no transit, an empty window.
    assert is_png(plots.plot_spacetime(log, tmp_path / "d.png"))
    assert is_png(plots.plot_spacetime(log, tmp_path / "e.png", window=(5.0, 6.0)))


def _history() -> History:
    rec = Recorder(seed=1, config={"size": 3, "fanout": 2}, claims=["causal"])
    for r in range(3):
        rec.root(rank=r, version=0, time=0.0)
    c = rec.invoke(process="w", rank=1, op="commit", writes={"x": 1}, time=0.001)
    rec.root(rank=0, version=1, time=0.0012)
    rec.root(rank=1, version=1, time=0.0014)
    rec.complete(c, time=0.0015, version=1, reported_version=0)
    rec.op(process="w", rank=1, op="send", token="t1", value=0, invoke=0.0015, complete=0.0015)
    rec.op(process="r", rank=2, op="recv", token="t1", value=0, invoke=0.0015, complete=0.0015)
    rec.op(
        process="r",
        rank=2,
        op="get",
        key="x",
        value=None,
        version=0,
        invoke=0.0016,
        complete=0.0017,
    )
    rec.root(rank=2, version=1, time=0.0018)
    rec.op(
        process="r", rank=2, op="get", key="x", value=1, version=1, invoke=0.0019, complete=0.002
    )
    return rec.history()


def test_history_helpers() -> None:
    h = _history()
    assert plots.applied_times(h, 1) == {0: 0.0012, 1: 0.0014, 2: 0.0018}
    ages = plots.read_ages(h)
    assert ages[0][0] == 1 and ages[0][1] == pytest.approx(0.0016 - 0.0012)
    assert ages[1] == (1, 0.0)
    assert plots.focus_version(h) == 1
    t0, t1 = plots.focus_window(h, 1)
    assert t0 <= 0.001 and t1 >= 0.0018
    handoffs, labels = plots.client_marks(h, (t0, t1))
    assert handoffs == [(0.0015, 1, 0.0015, 2)]
    assert (0.0015, 1, "committed v1, reported v0") in labels
    samples = [
        {"depth": 1, "latency": 0.0, "created": 0.0, "applied": 0.0},
        {"depth": 1, "latency": 2e-4, "created": 0.0012, "applied": 0.0014},
    ]
    data = plots.staleness_data(h, {"samples": samples})
    assert data["propagation"] == [(1, 2e-4)]  # the boot root is not propagation


def test_focus_lanes_go_up_from_the_committer_and_down_elsewhere() -> None:
    parent = [-1] + [(r - 1) // 2 for r in range(1, 15)]
    assert plots.focus_lanes(parent, [13]) == [13, 6, 2, 0, 1, 4, 10]
    assert plots.focus_lanes(parent) == [14, 6, 2, 0, 1, 4, 10]
    assert plots.focus_lanes([-1]) == [0]
