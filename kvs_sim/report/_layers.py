"""The space-time diagram's layers of events: their (empty) traces and their columns.

Theory of operation
-------------------
Each function adds to the figure the traces of one layer (messages by type,
operations by type, roots applied), styled and named for the legend but with
no points, and returns the layer's columns (:mod:`._columns`) with the indices
of those traces: the page's script (``spacetime.js``) fills them with the
events in view.  :func:`heatmap` adds the hidden heatmap the script shows
instead of the messages when too many are in view.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from kvs_sim.plots import MESSAGE_LABELS
from kvs_sim.report._columns import message_columns, op_columns, root_columns
from kvs_sim.report._data import RunData

if TYPE_CHECKING:
    from kvs_sim.report._spacetime import Lanes

CLIENT, BROKER = -1, -2
OP_OFFSET = 0.3
"""Operations are drawn this far below their rank's lane; roots as far above."""

MESSAGE_COLORS = {
    "SetRoot": "#1f77b4",
    "RelayCommit": "#d62728",
    "RelayCommitResp": "#ff9896",
    "LoadReq": "#2ca02c",
    "LoadResp": "#98df8a",
    "RootReq": "#9467bd",
    "RootResp": "#c5b0d5",
    "RelayReq": "#8c564b",
    "RelayResp": "#c49c94",
    "NamespaceRemoved": "#e377c2",
}
_OTHER = ("#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e", "#aec7e8")

OP_COLORS = {
    "commit": "#d62728",
    "get": "#1f77b4",
    "watch": "#17becf",
    "get_version": "#7f7f7f",
    "wait_version": "#ff7f0e",
    "send": "#2ca02c",
    "recv": "#2ca02c",
    "dropcache": "#8c564b",
}


def _placeholder(fig: go.Figure, **static: Any) -> int:
    """An empty ``scattergl`` the page's script fills with the events in view; its index."""
    fig.add_trace(go.Scattergl({"x": [], "y": [], **static}))
    return len(fig.data) - 1


def messages_layer(
    fig: go.Figure, data: RunData, lanes: Lanes
) -> tuple[bool, dict[str, Any] | None]:
    """One (empty) trace per message type and the columns of every message drawn;
    True if the broker took part."""
    m = data.messages
    if m is None or not len(m):
        return False, None
    src = np.asarray(m.src)
    dst = np.asarray(m.dst)
    drawn = (src != CLIENT) & (dst != CLIENT) & (src != dst)
    if not drawn.any():
        return False, None
    kind = np.asarray(m.kind)[drawn]
    group = np.zeros(kind.size, dtype=np.int64)
    traces: list[int] = []
    others = iter(_OTHER * 4)
    for k, name in enumerate(m.kinds):
        sel = kind == k
        n = int(sel.sum())
        if not n:
            continue
        group[sel] = len(traces)
        color = MESSAGE_COLORS.get(name) or next(others)
        traces.append(
            _placeholder(
                fig,
                mode="lines+markers",
                name=f"{name} ({n})",
                legendgroup=f"msg-{name}",
                line={"color": color, "width": 1},
                marker={"color": color},
                hovertemplate=f"<b>{MESSAGE_LABELS.get(name, name)}</b><br>"
                "rank %{customdata} at %{x:.4f} ms<extra></extra>",
            )
        )
    cols = message_columns(
        np.asarray(m.sent)[drawn],
        np.asarray(m.arrived)[drawn],
        lanes.of_array(src[drawn]),
        lanes.of_array(dst[drawn]),
        group,
        n_lanes=len(lanes),
    )
    cols["traces"] = traces
    broker = bool(((src[drawn] == BROKER) | (dst[drawn] == BROKER)).any())
    return broker, cols


def operations_layer(
    fig: go.Figure, data: RunData, end: float, lanes: Lanes
) -> dict[str, Any] | None:
    """Per operation type, (empty) traces of its bars, its ticks at completion
    (the hover text) and those never completed; the columns of every operation."""
    ops = data.history.ops
    if not ops:
        return None
    count: dict[str, int] = defaultdict(int)
    never: dict[str, int] = defaultdict(int)
    for o in ops:
        count[o.op] += 1
        never[o.op] += o.complete is None
    names = sorted(count, key=lambda n: (n not in OP_COLORS, n))
    groups = []
    for name in names:
        color = OP_COLORS.get(name, "#444444")
        legend = f"op-{name}"
        bars = _placeholder(
            fig,
            mode="lines",
            name=f"{name} ({count[name]})",
            legendgroup=legend,
            line={"color": color, "width": 4},
            opacity=0.8,
            hoverinfo="skip",
        )
        ticks = _placeholder(
            fig,
            mode="markers",
            name=name,
            legendgroup=legend,
            showlegend=False,
            marker={"size": 6, "color": color, "symbol": "line-ns-open", "line": {"width": 2}},
            hovertemplate="%{hovertext}<extra></extra>",
        )
        late = -1
        if never[name]:
            late = _placeholder(
                fig,
                mode="lines+markers",
                name=f"{name}: never completed ({never[name]})",
                legendgroup=legend,
                line={"color": color, "width": 3, "dash": "dot"},
                marker={"size": 5, "color": color},
                hovertemplate="%{hovertext}<extra></extra>",
            )
        groups.append({"bars": bars, "ticks": ticks, "never": late, "color": color})
    group_of = {n: i for i, n in enumerate(names)}
    cols = op_columns(list(ops), lanes.of, len(lanes), group_of, end)
    cols["groups"] = groups
    cols["offset"] = OP_OFFSET
    return cols


def roots_layer(fig: go.Figure, data: RunData, lanes: Lanes) -> dict[str, Any] | None:
    roots = [r for r in data.history.roots if r.version > 0 and r.rank >= 0]
    if not roots:
        return None
    lo, hi = min(r.version for r in roots), max(r.version for r in roots)
    trace = _placeholder(
        fig,
        mode="markers",
        name=f"root applied ({len(roots)})",
        legendgroup="roots",
        marker={
            "size": 5,
            "symbol": "diamond",
            "colorscale": "Viridis",
            "cmin": lo,
            "cmax": max(hi, lo + 1),
            "showscale": False,
        },
        hovertemplate="rank %{customdata} applied version %{marker.color}"
        "<br>%{x:.4f} ms<extra></extra>",
    )
    cols = root_columns(roots, lanes.of, len(lanes))
    cols["trace"] = trace
    cols["offset"] = OP_OFFSET
    return cols


def heatmap(fig: go.Figure) -> int:
    """The (hidden) heatmap of messages per lane and time bin the script shows
    when too many messages are in view to draw each; its index."""
    fig.add_trace(
        go.Heatmap(
            z=[[0]],
            visible=False,
            name="messages (density)",
            colorscale=[[0.0, "#dbe9f6"], [0.35, "#6baed6"], [0.7, "#2171b5"], [1.0, "#08306b"]],
            zmin=0,
            hoverongaps=False,
            colorbar={
                "orientation": "h",
                "x": 1.0,
                "xanchor": "right",
                "y": 1.0,
                "yanchor": "bottom",
                "len": 0.25,
                "thickness": 8,
                "title": {"text": "messages per cell", "side": "top", "font": {"size": 11}},
                "tickfont": {"size": 10},
            },
            hovertemplate="%{z} messages sent or received<br>%{x:.4f} ms<extra></extra>",
        )
    )
    return len(fig.data) - 1
