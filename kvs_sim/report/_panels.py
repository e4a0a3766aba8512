"""The report's other figures: propagation tree, staleness and lag by depth, caches, commits.

Theory of operation
-------------------
Each function takes a :class:`~kvs_sim.report._data.RunData` (and the metrics of
:func:`kvs_sim.metrics.compute_metrics`) and returns a plotly figure, plus, for
the tree, the data the page's version slider recolours it from:

* :func:`propagation` draws the overlay (the layout of
  :func:`kvs_sim.plots.tree_layout`) with two empty node traces, "applied" and
  "never applied".  The page fills them for the version the slider selects, from
  the root records shipped once (rank, version, time, sorted by rank then
  time): a rank saw version v at its first root record >= v;
* :func:`staleness` plots CDFs by depth of setroot propagation latency and of
  read staleness (:func:`kvs_sim.plots.staleness_data`); a CDF of many samples
  is drawn from 400 quantiles, which looks the same and weighs far less;
* :func:`caches` shows follower cache hits, faults and loads served by depth
  (``summary.json``'s counters) and, when the message trace was kept, cache
  faults (``LoadReq`` messages) over time with every ``dropcache`` marked;
* :func:`commits` shows commit latency by depth and over time.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from kvs_sim.metrics import rank_depths
from kvs_sim.plots import focus_version, staleness_data, tree_layout
from kvs_sim.report._columns import column
from kvs_sim.report._data import RunData

CDF_POINTS = 400

GL_POINTS = 5000
"""Above this many points a panel draws with WebGL; below, SVG (a WebGL context
costs a second or more to start where it runs in software, as on a machine
with no GPU)."""


def _scatter(points: int) -> Any:
    return go.Scattergl if points > GL_POINTS else go.Scatter


def _depth_color(d: int, top: int) -> str:
    return str(sample_colorscale("Viridis", [0.9 * d / max(top, 1)])[0])


def _note(fig: go.Figure, text: str, axis: str = "") -> None:
    """``text`` in the middle of the subplot of axes ``x{axis}``/``y{axis}``."""
    fig.add_annotation(
        text=text,
        showarrow=False,
        xref=f"x{axis} domain",
        yref=f"y{axis} domain",
        x=0.5,
        y=0.5,
    )


def _base(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"font": {"size": 11}},
    )
    return fig


def propagation(data: RunData) -> tuple[go.Figure, dict[str, Any]]:
    """The overlay tree, and what the version slider needs."""
    h = data.history
    parent = data.parent or [-1]
    n = len(parent)
    pos = tree_layout(parent)
    xs = np.asarray([pos[r][0] for r in range(n)], dtype=np.float32)
    ys = np.asarray([pos[r][1] for r in range(n)], dtype=np.float32)
    ex = np.full(3 * (n - 1), np.nan, dtype=np.float32)
    ey = np.full(3 * (n - 1), np.nan, dtype=np.float32)
    kids = np.arange(1, n)
    par = np.asarray(parent[1:], dtype=np.int64)
    ex[0::3], ex[1::3] = xs[par], xs[kids]
    ey[0::3], ey[1::3] = ys[par], ys[kids]
    width = float(xs.max()) + 1 if n else 1.0
    size = float(np.clip(900 / width, 4, 18))
    fig = go.Figure()
    scatter = _scatter(n)
    fig.add_trace(
        scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"color": "#bbbbbb", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        scatter(
            x=[],
            y=[],
            mode="markers+text" if n <= 64 else "markers",
            name="applied it",
            marker={
                "size": size,
                "color": [],
                "colorscale": "Viridis",
                "cmin": 0,
                "colorbar": {"title": {"text": "ms after<br>creation"}},
                "line": {"width": [], "color": []},
            },
            text=[],
            textfont={"size": 9, "color": "#ffffff"},
            hovertemplate="%{hovertext}<extra></extra>",
            hovertext=[],
        )
    )
    fig.add_trace(
        scatter(
            x=[],
            y=[],
            mode="markers",
            name="never applied it",
            marker={"size": size, "color": "#dddddd", "line": {"width": 1, "color": "#999999"}},
            hovertemplate="%{hovertext}<extra></extra>",
            hovertext=[],
        )
    )
    height = -float(ys.min()) if n else 0.0
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={
            "tickmode": "array",
            "tickvals": [-d for d in range(int(height) + 1)],
            "ticktext": [f"depth {d}" for d in range(int(height) + 1)],
            "zeroline": False,
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.05},
    )
    _base(fig, int(min(700, max(360, 140 + 70 * height))))
    roots = sorted(
        (r for r in h.roots if r.ns == "primary" and 0 <= r.rank < n),
        key=lambda r: (r.rank, r.time),
    )
    created = h.created("primary")
    versions = sorted(v for v in created if v > 0) or sorted(created)
    committers: dict[int, list[int]] = defaultdict(list)
    for o in h.commits("primary"):
        assert o.version is not None
        committers[o.version].append(o.rank)
    depth = rank_depths(h)
    tree = {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "depth": [depth.get(r) for r in range(n)],
        # Typed columns (decoded by the page's script): a large run has 100,000 roots.
        "rank": column([r.rank for r in roots], "<i4"),
        "version": column([r.version for r in roots], "<i4"),
        "time": column([1e3 * r.time for r in roots], "<f8"),
        "versions": versions,
        "created": [1e3 * created[v] for v in versions],
        "committers": {str(v): sorted(set(rs)) for v, rs in committers.items()},
        "focus": focus_version(h),
        "labels": n <= 64,
    }
    return fig, tree


def _cdf(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    xs = np.sort(np.asarray(values, dtype=np.float64))
    n = xs.size
    ys = np.arange(1, n + 1) / n
    if n > CDF_POINTS:
        q = np.linspace(0, n - 1, CDF_POINTS).round().astype(int)
        xs, ys = xs[q], ys[q]
    return np.concatenate([[0.0], xs]).astype(np.float32), np.concatenate([[0.0], ys]).astype(
        np.float32
    )


def staleness(data: RunData, metrics: dict[str, Any]) -> go.Figure:
    """CDFs by depth: setroot propagation latency, read staleness."""
    series = staleness_data(data.history, metrics["propagation"])
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "setroot propagation latency (ms after creation at rank 0)",
            "read staleness (ms the value read had been superseded)",
        ),
        horizontal_spacing=0.08,
    )
    depths = sorted({d for s in series.values() for d, _ in s if d is not None})
    top = max(depths, default=1)
    for col, key in ((1, "propagation"), (2, "read_age")):
        by_depth: dict[int, list[float]] = defaultdict(list)
        for d, v in series[key]:
            if d is not None:
                by_depth[d].append(1e3 * v)
        for d in sorted(by_depth):
            vals = by_depth[d]
            x, y = _cdf(vals)
            stale = f", {100 * sum(v > 0 for v in vals) / len(vals):.0f}% stale" if col == 2 else ""
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    line={"shape": "hv", "color": _depth_color(d, top), "width": 2},
                    name=f"depth {d} (n={len(vals)}{stale})",
                    legendgroup=f"depth-{d}",
                    showlegend=True,
                    hovertemplate=f"depth {d}: " + "%{y:.0%} <= %{x:.4f} ms<extra></extra>",
                ),
                row=1,
                col=col,
            )
        if not by_depth:
            _note(fig, "no samples", "" if col == 1 else str(col))
    fig.update_yaxes(title_text="fraction of samples <= x", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title_text="ms")
    return _base(fig, 420)


def caches(data: RunData) -> go.Figure:
    """Cache hits, faults and loads served by depth; cache faults over time."""
    rows = data.cache.get("by_depth") or []
    has_time = data.messages is not None and "LoadReq" in data.messages.kinds
    fig = make_subplots(
        rows=1,
        cols=2 if has_time else 1,
        subplot_titles=(
            "follower cache by depth (objects)",
            *(["cache faults over time (LoadReq messages)"] if has_time else []),
        ),
        horizontal_spacing=0.1,
    )
    colors = {"hits": "#2ca02c", "faults": "#d62728", "loads_served": "#1f77b4"}
    for key, label in (("hits", "hits"), ("faults", "faults"), ("loads_served", "loads served")):
        fig.add_trace(
            go.Bar(
                x=[f"depth {r['depth']}" for r in rows],
                y=[r.get(key, 0) for r in rows],
                name=label,
                marker_color=colors[key],
                hovertemplate=f"{label}: " + "%{y} at %{x}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if not rows:
        _note(fig, "no cache counters in this run's summary")
    if has_time:
        m = data.messages
        assert m is not None
        k = m.kinds.index("LoadReq")
        kind = np.asarray(m.kind)
        at = 1e3 * np.asarray(m.arrived)[kind == k]
        fig.add_trace(
            go.Histogram(
                x=at.astype(np.float32),
                nbinsx=min(200, max(10, int(np.sqrt(at.size)))),
                name="cache faults",
                marker_color="#d62728",
                showlegend=False,
                hovertemplate="%{y} faults around %{x:.3f} ms<extra></extra>",
            ),
            row=1,
            col=2,
        )
        for o in data.history.ops:
            if o.op == "dropcache":
                fig.add_vline(
                    x=1e3 * o.invoke,
                    line={"color": "#8c564b", "dash": "dot", "width": 1},
                    row=1,
                    col=2,
                )
        fig.update_xaxes(title_text="time (ms)", row=1, col=2)
    fig.update_layout(barmode="group")
    return _base(fig, 380)


def commits(data: RunData) -> go.Figure:
    """Commit latency by depth (box) and over time (one point per commit)."""
    depth = rank_depths(data.history)
    done = [o for o in data.history.ops if o.op == "commit" and o.ok and o.complete is not None]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "commit latency by depth of the committing rank",
            "commit latency over time",
        ),
        horizontal_spacing=0.08,
    )
    by_depth: dict[Any, list[Any]] = defaultdict(list)
    for o in done:
        by_depth[depth.get(o.rank)].append(o)
    top = max((d for d in by_depth if d is not None), default=1)
    for d in sorted(by_depth, key=lambda d: (d is None, d)):
        ops = by_depth[d]
        lat = np.asarray([1e3 * (o.complete - o.invoke) for o in ops], dtype=np.float32)
        color = _depth_color(d, top) if d is not None else "#7f7f7f"
        fig.add_trace(
            go.Box(
                y=lat,
                name=f"depth {d}",
                marker_color=color,
                boxpoints="all" if lat.size <= 2000 else "outliers",
                jitter=0.4,
                pointpos=0,
                legendgroup=f"c{d}",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            _scatter(len(done))(
                x=np.asarray([1e3 * o.invoke for o in ops], dtype=np.float64),
                y=lat,
                mode="markers",
                marker={"size": 5, "color": color},
                name=f"depth {d} ({len(ops)} commits)",
                legendgroup=f"c{d}",
                customdata=np.asarray([o.id for o in ops], dtype=np.int32),
                hovertemplate="commit #%{customdata}: %{y:.4f} ms at %{x:.4f} ms<extra></extra>",
            ),
            row=1,
            col=2,
        )
    if not done:
        _note(fig, "no successful commits")
    fig.update_yaxes(title_text="latency (ms)", row=1, col=1)
    fig.update_xaxes(title_text="invoked at (ms)", row=1, col=2)
    return _base(fig, 400)
