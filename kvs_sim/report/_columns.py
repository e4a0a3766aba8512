"""The space-time diagram's events as compact columns, for the page's level-of-detail script.

Theory of operation
-------------------
A large run has hundreds of thousands of messages, operations and root
records.  Drawing every one at once in software WebGL takes most of a minute,
and at full zoom-out a reader could not tell them apart anyway.  So the page
keeps every event, once, as columns (one typed array per field: times in ms as
``float64``, lanes as ``int16``, small indices as ``uint8``), and its script
(``spacetime.js``) decides at each zoom what to draw: the events of a layer in
view when there are at most :data:`DETAIL` of them, an aggregate otherwise (a
heatmap of messages per lane and time bin; operations and roots wait for a
closer zoom).

Each column is ``{"t": dtype, "b": base64 of its little-endian bytes}``: the
script decodes it straight into a typed array, so nothing is stored as one
JSON number per point.  Nothing here draws: :mod:`._spacetime` adds the (empty)
traces the script fills and passes their indices in.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from kvs_sim.checks import describe

DETAIL = 20_000
"""Events of one layer (messages, operations, roots) drawn one by one when at
most this many are in view; more are aggregated.  The page's ``#detail=N``
overrides it (a browser with a GPU draws far more)."""

HEATMAP_BINS = 600
"""Time bins of the message heatmap across the view."""

HEATMAP_ROWS = 800
"""At most this many heatmap rows: more lanes in view are grouped."""

CLIENT, BROKER = -1, -2

_CODES = {
    np.dtype("<f8"): "f8",
    np.dtype("<f4"): "f4",
    np.dtype("<i4"): "i4",
    np.dtype("<i2"): "i2",
    np.dtype("<u2"): "u2",
    np.dtype("u1"): "u1",
}


def column(values: Any, dtype: str) -> dict[str, str]:
    """``values`` as ``{"t": code, "b": base64}`` (``dtype`` a numpy type like ``"<f8"``)."""
    a = np.ascontiguousarray(np.asarray(values, dtype=np.dtype(dtype)))
    return {"t": _CODES[a.dtype], "b": base64.b64encode(a.tobytes()).decode("ascii")}


def lane_type(lanes: int) -> str:
    return "<i2" if lanes < 32000 else "<i4"


def index_type(n: int) -> str:
    return "u1" if n < 256 else "<u2"


def message_columns(
    sent: np.ndarray,
    arrived: np.ndarray,
    src_lane: np.ndarray,
    dst_lane: np.ndarray,
    group: np.ndarray,
    *,
    n_lanes: int,
) -> dict[str, Any]:
    """The drawn messages, by send time: ``sent`` ms, ``transit`` ms (float32: a
    transit is short), lanes, and ``group`` (index into the page's message traces)."""
    order = np.argsort(sent, kind="stable")
    sent_ms = np.asarray(sent, dtype=np.float64)[order] * 1e3
    transit = (np.asarray(arrived, dtype=np.float64)[order] * 1e3) - sent_ms
    lanes = lane_type(n_lanes)
    return {
        "n": int(order.size),
        "sent": column(sent_ms, "<f8"),
        "transit": column(transit, "<f4"),
        "src": column(src_lane[order], lanes),
        "dst": column(dst_lane[order], lanes),
        "group": column(group[order], index_type(int(group.max(initial=0)) + 1)),
        "max_transit": float(transit.max(initial=0.0)),
    }


def op_columns(
    ops: list[Any], lane_of: Any, n_lanes: int, group_of: dict[str, int], end: float
) -> dict[str, Any]:
    """Client operations: lane, ``invoke`` and ``complete`` ms (NaN: never
    completed, drawn to ``end``), ``group`` (index into the page's operation
    groups), ``failed`` (drawn black) and the description of each (its hover text)."""
    done = [o.complete if o.complete is not None else np.nan for o in ops]
    return {
        "n": len(ops),
        "lane": column([lane_of(o.rank) for o in ops], lane_type(n_lanes)),
        "invoke": column([1e3 * o.invoke for o in ops], "<f8"),
        "complete": column(np.asarray(done, dtype=np.float64) * 1e3, "<f8"),
        "group": column([group_of[o.op] for o in ops], index_type(len(group_of))),
        "failed": column([_failed(o) for o in ops], "u1"),
        # The description without its span in seconds: the page adds the times in ms.
        "text": [describe(o).rsplit(" [", 1)[0] for o in ops],
        "end": 1e3 * end,
    }


def root_columns(roots: list[Any], lane_of: Any, n_lanes: int) -> dict[str, Any]:
    """Root records: lane, ``time`` ms, ``version``."""
    return {
        "n": len(roots),
        "lane": column([lane_of(r.rank) for r in roots], lane_type(n_lanes)),
        "time": column([1e3 * r.time for r in roots], "<f8"),
        "version": column([r.version for r in roots], "<i4"),
    }


def _failed(op: Any) -> bool:
    return not op.ok and op.error not in (None, "ENOENT")
