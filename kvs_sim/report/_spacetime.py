"""The interactive space-time diagram of a run: every message, operation, root and nemesis.

Theory of operation
-------------------
One lane per rank, in the overlay's depth-first order (rank 0 on top, each
subtree's ranks next to each other, so a message between parent and child
crosses few lanes; the event broker above rank 0), time in ms to the right.
Nothing is sampled or capped, but not everything is drawn at once: every
message, operation and root record is in the page once, as typed columns
(:mod:`._columns`), and the page's script (``spacetime.js``) draws, at each
zoom, each event of a layer in view when there are at most
:data:`~._columns.DETAIL` of them, and an aggregate otherwise (the messages
as a heatmap of how many each lane sent or received per time bin; operations
and roots once the reader zooms in).  The figure built here holds the empty
traces it fills, with their style and legend:

* messages: one trace per message type, each message a segment
  ``[sent, arrived, NaN]`` (NaN separates segments) with a dot where it arrived;
  deliveries to or from clients are not drawn (the operations show them), nor a
  rank's timers to itself; the heatmap (hidden until needed) under them;
* client operations: per operation type, a bar on the rank's lane from
  invocation to completion, and a tick at completion carrying the operation's
  description (the hover text); operations that never completed run dotted to
  the end of the run;
* roots applied: a small mark on the lane per root record, coloured by version;
* hand-offs between clients (a ``send`` to its ``recv``): dashed lines, drawn
  here (there are few);
* nemeses: shaded rectangles over the lanes of the ranks they held, from start
  to end (to the end of the run if never healed).

Two empty traces at the end, ``evidence`` and ``evidence roots``, are where the
page's script draws the operations and root records of the violation the
reader clicks (:func:`spacetime` returns their indices and the coordinates of
every operation a violation names).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from kvs_sim.checks import describe
from kvs_sim.plots import focus_version, focus_window
from kvs_sim.report._columns import DETAIL, HEATMAP_BINS, HEATMAP_ROWS
from kvs_sim.report._data import RunData
from kvs_sim.report._layers import (
    BROKER,
    OP_OFFSET,
    heatmap,
    messages_layer,
    operations_layer,
    roots_layer,
)

BROKER_LANE = -1

NEMESIS_COLORS = {
    "partition": "#d62728",
    "crash": "#000000",
    "pause": "#9467bd",
    "slow": "#ff7f0e",
    "spike": "#e377c2",
    "loss": "#8c564b",
}

MAX_POINTS = 90_000
"""Points per WebGL trace.  Above 100,000 points plotly's WebGL scatter clusters
its markers on the CPU before drawing, which costs far more than the drawing (a
minute for a large run in software WebGL), so larger sets are split into traces
of this size that share one legend entry."""


def _add(fig: go.Figure, columns: dict[str, Any], per_item: int, **static: Any) -> None:
    """Add a ``scattergl`` of ``columns`` (``per_item`` points per item: 3 for a
    segment and its NaN), in pieces of at most :data:`MAX_POINTS` points."""
    total = len(next(iter(columns.values())))
    step = max(per_item, MAX_POINTS // per_item * per_item)
    for i, lo in enumerate(range(0, total, step)):
        part = {k: v[lo : lo + step] for k, v in columns.items()}
        fig.add_trace(go.Scattergl({**static, **part, **({"showlegend": False} if i else {})}))


def _times(values: Any) -> np.ndarray:
    """Milliseconds as float32 when that keeps sub-microsecond resolution, else float64."""
    a = np.asarray(values, dtype=np.float64) * 1e3
    finite = a[np.isfinite(a)]
    small = finite.size == 0 or float(np.abs(finite).max()) < 8192.0
    return a.astype(np.float32) if small else a


def _segments(x0: Any, x1: Any, y0: Any, y1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flat x and y arrays of segments separated by NaN."""
    n = len(x0)
    x = np.full(3 * n, np.nan)
    y = np.full(3 * n, np.nan, dtype=np.float32)
    x[0::3], x[1::3] = np.asarray(x0, dtype=np.float64), np.asarray(x1, dtype=np.float64)
    y[0::3], y[1::3] = y0, y1
    return _times(x), y


class Lanes:
    """Where each rank's lane is: depth-first order of the overlay (children in
    rank order), ranks outside it after, the event broker at -1."""

    def __init__(self, parent: Sequence[int], ranks: Sequence[int]) -> None:
        children: dict[int, list[int]] = defaultdict(list)
        for r in range(1, len(parent)):
            children[parent[r]].append(r)
        order: list[int] = []
        stack = [0] if parent else []
        while stack:
            r = stack.pop()
            order.append(r)
            stack.extend(reversed(children.get(r, [])))
        known = set(order)
        order += sorted(r for r in ranks if r not in known and r >= 0)
        self.rank_at = order
        self.known = {r: i for i, r in enumerate(order)}
        table = np.zeros(max(order, default=0) + 1, dtype=np.int64)
        table[order] = np.arange(len(order))
        self._table = table

    def __len__(self) -> int:
        return len(self.rank_at)

    def of(self, rank: int) -> int:
        """The y of ``rank``'s lane."""
        return BROKER_LANE if rank == BROKER else self.known[rank]

    def of_array(self, ranks: np.ndarray) -> np.ndarray:
        """``of`` for an array of ranks (BROKER allowed)."""
        safe = np.where(ranks == BROKER, 0, ranks)
        return np.where(ranks == BROKER, BROKER_LANE, self._table[safe])


def spacetime(data: RunData) -> tuple[go.Figure, dict[str, Any]]:
    """The figure, and the index the page's script uses to show evidence:
    ``{"ops": {id: [lane, t0 ms, t1 ms, text]}, "evidence_trace": i,
    "evidence_roots_trace": j, "end": ms}``."""
    h = data.history
    fig = go.Figure()
    ends = [o.complete or o.invoke for o in h.ops] + [r.time for r in h.roots]
    if data.messages is not None and len(data.messages):
        ends.append(max(data.messages.arrived))
    nemeses = list(getattr(h, "nemeses", ()) or ())
    ends += [n.end for n in nemeses if n.end is not None] + [n.start for n in nemeses]
    end = max(ends, default=0.0)
    lanes = Lanes(data.parent, h.ranks())
    heat = heatmap(fig)
    broker, messages = messages_layer(fig, data, lanes)
    ops = operations_layer(fig, data, end, lanes)
    roots = roots_layer(fig, data, lanes)
    _handoffs(fig, data, lanes)
    shapes = _nemeses(nemeses, lanes, end)
    top = BROKER_LANE if broker else 0
    bottom = len(lanes) - 1
    # Two invisible corners: autoscale (double-click) spans the whole run, whatever is drawn.
    fig.add_trace(
        go.Scattergl(
            x=[0.0, 1e3 * end],
            y=[top, bottom],
            mode="markers",
            marker={"opacity": 0},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=[],
            y=[],
            mode="lines+markers",
            name="evidence (click a violation)",
            line={"color": "#ff0000", "width": 5},
            marker={"size": 11, "color": "#ff0000", "symbol": "circle-open", "line": {"width": 3}},
            opacity=0.6,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=[],
            y=[],
            mode="markers",
            name="evidence roots",
            marker={"size": 14, "color": "#ff0000", "symbol": "star"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    n_traces = len(fig.data)
    labels = lane_ticks(data, lanes, broker, top, bottom)
    version = focus_version(h)
    w0, w1 = focus_window(h, version)
    full = [-0.01 * max(end, 1e-6) * 1e3, 1.01 * end * 1e3]
    fig.update_layout(
        height=int(min(900, max(380, 150 + 22 * (bottom - top + 1)))),
        margin={"l": 10, "r": 10, "t": 70, "b": 50},
        xaxis={"title": {"text": "time (ms)"}, "range": full, "zeroline": False},
        yaxis={
            "title": {"text": "rank (lanes in tree order)"},
            "range": [bottom + 0.8, top - 0.8],
            "zeroline": False,
            **labels,
        },
        shapes=shapes,
        hovermode="closest",
        dragmode="zoom",
        legend={"itemsizing": "constant", "font": {"size": 11}},
        template="plotly_white",
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "x": 0.0,
                "y": 1.0,
                "xanchor": "left",
                "yanchor": "bottom",
                "pad": {"b": 4},
                "buttons": [
                    {
                        "label": "whole run",
                        "method": "relayout",
                        "args": [{"xaxis.range": full, "yaxis.range": [bottom + 0.8, top - 0.8]}],
                    },
                    {
                        "label": f"version {version} spreading",
                        "method": "relayout",
                        "args": [{"xaxis.range": [1e3 * w0, 1e3 * w1]}],
                    },
                ],
            }
        ],
    )
    index = {
        "ops": _evidence_ops(data, lanes),
        "lane": [lanes.known.get(r) for r in range(max(lanes.rank_at, default=0) + 1)],
        "rank_at": lanes.rank_at,
        "depth": list(data.history.header.config.get("depth") or []),
        "broker": broker,
        "max_ticks": MAX_TICKS,
        "evidence_trace": n_traces - 2,
        "evidence_roots_trace": n_traces - 1,
        "end": 1e3 * end,
        "offset": OP_OFFSET,
        "lod": {
            "detail": DETAIL,
            "bins": HEATMAP_BINS,
            "rows": HEATMAP_ROWS,
            "heatmap": heat,
            "messages": messages,
            "ops": ops,
            "roots": roots,
        },
    }
    return fig, index


MAX_TICKS = 40
"""Lane labels shown at once; the page's script relabels the lanes in view on zoom."""


def lane_ticks(data: RunData, lanes: Lanes, broker: bool, top: int, bottom: int) -> dict[str, Any]:
    """Tick labels (rank and depth) for the lanes from ``top`` to ``bottom``, at
    most :data:`MAX_TICKS` of them (every k-th lane)."""
    depth = data.history.header.config.get("depth") or []
    step = max(1, -(-(bottom - top + 1) // MAX_TICKS))
    vals = [v for v in range(top, bottom + 1) if v == BROKER_LANE or v % step == 0]
    text = []
    for v in vals:
        if v == BROKER_LANE:
            text.append("broker")
            continue
        r = lanes.rank_at[v]
        d = depth[r] if r < len(depth) else None
        text.append(f"{r} (d{d})" if isinstance(d, int) else str(r))
    if not broker and BROKER_LANE in vals:
        vals.remove(BROKER_LANE)
        text.remove("broker")
    return {"tickmode": "array", "tickvals": vals, "ticktext": text}


def _handoffs(fig: go.Figure, data: RunData, lanes: Lanes) -> None:
    ops = data.history.ops
    sends = {o.token: o for o in ops if o.op == "send" and o.token is not None}
    pairs = [
        (sends[o.token], o)
        for o in ops
        if o.op == "recv" and o.token in sends and o.complete is not None
    ]
    if not pairs:
        return
    x, y = _segments(
        [s.invoke for s, _ in pairs],
        [r.complete for _, r in pairs],
        [lanes.of(s.rank) + OP_OFFSET for s, _ in pairs],
        [lanes.of(r.rank) + OP_OFFSET for _, r in pairs],
    )
    _add(
        fig,
        {"x": x, "y": y},
        3,
        mode="lines",
        name=f"hand-off ({len(pairs)})",
        legendgroup="handoffs",
        line={"color": "#000000", "width": 1.5, "dash": "dash"},
        hoverinfo="skip",
    )


def _runs(ranks: Sequence[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted ranks: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for r in sorted(set(ranks)):
        if out and out[-1][1] == r - 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


def _nemeses(nemeses: Sequence[Any], lanes: Lanes, end: float) -> list[dict[str, Any]]:
    shapes: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n in nemeses:
        held = [lanes.of(r) for r in n.ranks if r == BROKER or r in lanes.known]
        ys = held or list(range(len(lanes)))
        color = NEMESIS_COLORS.get(n.name, "#7f7f7f")
        stop = n.end if n.end is not None else end
        for lo, hi in _runs(ys):
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "y",
                    "x0": 1e3 * n.start,
                    "x1": 1e3 * stop,
                    "y0": lo - 0.5,
                    "y1": hi + 0.5,
                    "fillcolor": color,
                    "opacity": 0.13,
                    "line": {"width": 0},
                    "layer": "below",
                    "name": n.name,
                    "legendgroup": f"nemesis-{n.name}",
                    "showlegend": n.name not in seen,
                }
            )
            seen.add(n.name)
    return shapes


def _evidence_ops(data: RunData, lanes: Lanes) -> dict[int, list[Any]]:
    """Lane, start, end (ms; None: never completed) and text of every operation a
    listed violation names."""
    ops = data.history.ops_by_id()
    wanted = {i for g in data.guarantees for v in g["violations"] for i in v["ops"]}
    out: dict[int, list[Any]] = {}
    for i in sorted(wanted):
        o = ops.get(i)
        if o is not None:
            done = None if o.complete is None else 1e3 * o.complete
            out[i] = [lanes.of(o.rank) + OP_OFFSET, 1e3 * o.invoke, done, describe(o)]
    return out
