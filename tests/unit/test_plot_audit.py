"""Every figure is looked at as a reader would (see plot_audit): the audit itself
catches the flaws users reported, and the plots a run draws pass it."""

from __future__ import annotations

from pathlib import Path

import pytest
from plot_audit import audit, capture

from kvs_sim import plots
from kvs_sim.cli import main

plt = pytest.importorskip("matplotlib.pyplot")
ROOT = Path(__file__).resolve().parents[2]


def test_audit_catches_a_curve_hidden_on_the_axis() -> None:
    fig, ax = plt.subplots()
    ax.step([0.0, 0.0], [0.0, 1.0], label="depth 0 (all zero)")
    ax.step([0.0, 0.2, 0.5], [0.0, 0.5, 1.0], label="depth 1")
    ax.set_xlim(0.0, 1.0)
    ax.set(title="t", xlabel="x", ylabel="y")
    ax.legend()
    problems = audit(fig)
    plt.close(fig)
    assert problems == [
        "axes 0 ('t'): legend entry 'depth 0 (all zero)' has no visible artist drawn like it"
    ]


def test_audit_catches_a_legend_line_for_a_mark() -> None:
    fig, ax = plt.subplots()
    ax.plot([0.5], [0.5], marker="x", ls="", color="C5")
    ax.plot([], [], color="C5", lw=2, label="timer fires")
    ax.set(title="t", xlabel="x", ylabel="y", xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    problems = audit(fig)
    plt.close(fig)
    assert any("'timer fires' has no visible artist" in p for p in problems)


def test_audit_catches_a_legend_over_nodes_and_missing_labels() -> None:
    fig, ax = plt.subplots()
    ax.scatter([0.9, 0.95, 0.1], [0.05, 0.1, 0.9], color="red")
    ax.plot([], [], marker="o", ls="", color="red", label="a rank")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    problems = audit(fig)
    plt.close(fig)
    assert any("legend covers" in p for p in problems)
    assert any("no title" in p for p in problems)


@pytest.mark.parametrize("size", [7, 15])
def test_the_plots_of_a_run_pass_the_audit(tmp_path: Path, size: int) -> None:
    with capture() as figures:
        code = main(
            [
                "run",
                str(ROOT / "scenarios" / "ryw_vs_stale.py"),
                "--size",
                str(size),
                "--set",
                "commits=4",
                "--out",
                str(tmp_path),
            ]
        )
        assert code == 0
        assert len(figures) == 3  # propagation, space-time, staleness
        assert [p for fig in figures for p in audit(fig)] == []


def test_synthetic_plots_pass_the_audit(tmp_path: Path) -> None:
    log = [
        (0.00002, plots.CLIENT, 3, "CommitReq"),
        (0.00030, 3, 0, "RelayCommit"),
        (0.00031, 0, 0, "Timer"),
        (0.00050, 0, 1, "SetRoot"),
        (0.00060, 1, 3, "SetRoot"),
        (0.00062, 3, plots.CLIENT, "Reply"),
    ]
    series = {
        "": {
            "propagation": [(1, 2e-4), (2, 4e-4)],
            "read_age": [(0, 0.0), (0, 0.0), (1, 0.0), (1, 1e-4), (2, 3e-4)],
        }
    }
    with capture() as figures:
        plots.plot_spacetime(log, tmp_path / "st.png", transit=lambda s, d, n: 1e-4)
        plots.plot_staleness(series, tmp_path / "s.png", title="synthetic")
        plots.plot_propagation(
            [-1, 0, 0, 1, 1, 2, 2],
            {0: 1.0, 1: 1.0003, 2: 1.0003, 3: 1.0006, 4: 1.0006, 5: 1.0006},
            tmp_path / "p.png",
            version=4,
            created=1.0,
            committers=[5, 6],
        )
        assert [p for fig in figures for p in audit(fig)] == []


def test_run_animate_writes_the_wave(tmp_path: Path) -> None:
    from PIL import Image

    code = main(
        [
            "run",
            str(ROOT / "scenarios" / "ryw_vs_stale.py"),
            "--size",
            "7",
            "--set",
            "commits=3",
            "--animate",
            "--no-plots",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    with Image.open(tmp_path / "wave.gif") as gif:
        assert gif.n_frames > 10
        gif.seek(0)
        first = gif.convert("RGB").getcolors(1 << 20)
        gif.seek(gif.n_frames - 1)
        last = gif.convert("RGB").getcolors(1 << 20)
    assert first != last  # the ranks change colour as the wave passes


def test_the_wave_colours_ranks_by_versions_behind() -> None:
    from kvs_sim.plots.animation import version_at

    timeline = ([0.0, 1.0, 2.0], [0, 3, 4])
    assert [version_at(timeline, t) for t in (-1.0, 0.5, 1.0, 5.0)] == [0, 0, 3, 4]
    assert version_at(None, 1.0) == 0


def test_variants_side_by_side_pass_the_audit(tmp_path: Path) -> None:
    with capture() as figures:
        code = main(
            [
                "run",
                str(ROOT / "scenarios" / "causal_handoff.py"),
                "--size",
                "7",
                "--set",
                "rounds=1",
                "--out",
                str(tmp_path),
            ]
        )
        assert code == 0
        panels = [f for f in figures if len(f.axes) == 4]  # the four variants, stacked
        assert len(panels) == 1
        titles = [ax.get_title() for ax in panels[0].axes]
        assert any("[no-wait]" in t for t in titles) and any("[get-version]" in t for t in titles)
        assert [p for fig in figures for p in audit(fig)] == []
    assert (tmp_path / "spacetime_variants.png").stat().st_size > 10_000
