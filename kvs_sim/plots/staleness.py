"""Plot (b): CDFs by tree depth of setroot propagation latency and read staleness.

Theory of operation
-------------------
:func:`read_ages` gives every read's staleness: how long before the read was
invoked the version it was served from had been superseded at rank 0 (0.0 if it
was the newest).  :func:`staleness_data` pairs those with the propagation samples
of :func:`kvs_sim.metrics.propagation_latency` (the boot root every rank starts
with left out), giving one run's input to :func:`plot_staleness`.  That plot draws
one row of two panels per run (a scenario's variants stacked, sharing each
column's x range) and one CDF per depth; when most samples are 0 the y axis
zooms in so the stale tail stays visible.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kvs_sim.history import History
from kvs_sim.metrics import rank_depths
from kvs_sim.plots._common import pyplot, save

DepthSamples = Sequence[tuple[int | None, float]]


def read_ages(history: History) -> list[tuple[int | None, float]]:
    """``(depth, age)`` of every read: how long before the read was invoked the
    version it was served from had been superseded at rank 0 (0.0: it was the
    newest).  This is read staleness in seconds."""
    depths = rank_depths(history)
    created: dict[str, tuple[list[int], list[float]]] = {}
    for ns in history.namespaces():
        born = sorted(history.created(ns).items())
        created[ns] = ([v for v, _ in born], [t for _, t in born])
    out: list[tuple[int | None, float]] = []
    for o in history.ops:
        if o.op not in ("get", "watch") or o.version is None or o.complete is None:
            continue
        if not (o.ok or o.error == "ENOENT"):
            continue
        versions, times = created.get(o.ns, ([], []))
        i = bisect_right(versions, o.version)  # the first newer version, if any
        age = o.invoke - times[i] if i < len(versions) and times[i] <= o.invoke else 0.0
        out.append((depths.get(o.rank), max(0.0, age)))
    return out


def staleness_data(history: History, propagation: Mapping[str, Any]) -> dict[str, DepthSamples]:
    """Input of :func:`plot_staleness` for one run: ``propagation`` is the metric of
    :func:`kvs_sim.metrics.propagation_latency` (its ``samples`` are used)."""
    return {
        "propagation": [
            (s["depth"], s["latency"])
            for s in propagation.get("samples", ())
            if s["created"] > 0.0 or s["applied"] > 0.0  # not the boot root every rank has
        ],
        "read_age": read_ages(history),
    }


def _cdf(ax: Any, values: Sequence[float], **kw: Any) -> None:
    xs = sorted(values)
    n = len(xs)
    ys = [(i + 1) / n for i in range(n)]
    ax.step([0.0, *xs], [0.0, *ys], where="post", **kw)


def plot_staleness(
    series: Mapping[str, Mapping[str, DepthSamples]],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """CDFs by tree depth of setroot propagation latency and of read staleness.

    ``series`` maps a run's label (a variant; ``""`` for a single run) to
    ``{"propagation": [(depth, seconds)], "read_age": [(depth, seconds)]}``; each
    run is one row of two panels, depths are colours."""
    plt = pyplot()
    rows = list(series.items()) or [("", {})]
    depths = sorted({d for _, data in rows for key in data for d, _ in data[key] if d is not None})
    cmap = plt.get_cmap("viridis")
    top = max(depths, default=0) or 1
    fig, axes = plt.subplots(
        len(rows), 2, figsize=(11, 1.2 + 3.1 * len(rows)), squeeze=False, sharex="col"
    )
    panels = (
        ("propagation", "setroot propagation latency (ms after creation at rank 0)"),
        ("read_age", "read staleness (ms the value read had been superseded)"),
    )
    for i, (label, data) in enumerate(rows):
        for j, (key, xlabel) in enumerate(panels):
            ax = axes[i][j]
            by_depth: dict[int, list[float]] = defaultdict(list)
            for d, v in data.get(key, ()):
                if d is not None:
                    by_depth[d].append(1e3 * v)
            for d in sorted(by_depth):
                vals = by_depth[d]
                extra = ""
                if key == "read_age":
                    extra = f", {100 * sum(1 for v in vals if v > 0) / len(vals):.0f}% stale"
                _cdf(
                    ax,
                    vals,
                    color=cmap(0.9 * d / top),
                    lw=1.6,
                    label=f"depth {d} (n={len(vals)}{extra})",
                )
            if not by_depth:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.legend(fontsize=7, loc="lower right")
                if key == "read_age" and not any(v > 0 for vs in by_depth.values() for v in vs):
                    ax.text(
                        0.5,
                        0.6,
                        "every read was served from the newest version",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                    )
            starts = [sum(1 for v in vals if v <= 0) / len(vals) for vals in by_depth.values()]
            low = min(starts, default=0.0)  # zoom in when most samples are 0
            ax.set_ylim(max(0.0, 0.1 * int(10 * low) - 0.1) if low > 0.3 else 0.0, 1.02)
            ax.grid(alpha=0.3)
            ax.set_ylabel("fraction of samples <= x")
            if i == len(rows) - 1:
                ax.set_xlabel(xlabel)
            head = (
                "Setroot propagation by depth"
                if key == "propagation"
                else "Read staleness by depth (0 = the newest version)"
            )
            ax.set_title(f"{label}: {head}" if label else head, fontsize=10)
    for j, (key, _) in enumerate(panels):  # one x range per column, fitting every row
        most = max((v for _, data in rows for _, v in data.get(key, ())), default=0.0)
        right = 1.04e3 * most if most > 0 else 1.0
        # A little room left of 0, so a curve of all-zero samples (rank 0 is never
        # stale) is a visible vertical line, not hidden under the axis.
        axes[0][j].set_xlim(-0.03 * right, right)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)
