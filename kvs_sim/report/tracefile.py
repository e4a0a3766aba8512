"""The message trace of a run, saved compactly next to its history (``trace.json.gz``).

Theory of operation
-------------------
The simulator's tracer sees every delivery as ``(arrival time, src, dst, message)``;
:class:`kvs_sim.scenario.Trace` keeps them for the plots.  A history says what the
clients did, not which messages went where, so ``kvs-sim run`` also saves the
deliveries, and ``kvs-sim report RUN_DIR`` can draw them later.

The file is gzip-compressed JSON with one array per column (standard library only,
so any run can write it)::

    {"format": "kvs-sim-trace", "version": 1, "unit": "ns",
     "kinds": ["SetRoot", "LoadReq", ...],       # message type names
     "arrived": [...],   # arrival times, integer ns, delta-encoded (first is absolute)
     "transit": [...],   # integer ns each message travelled (sent = arrived - transit)
     "src": [...], "dst": [...],                 # ranks; -1 a client, -2 the event broker
     "kind": [...],                              # index into "kinds"
     "dropped": 0,       # deliveries the run counted but did not keep (MAX_TRACE)
     "estimated": false} # true: transit is the mean link latency, not the exact one

Integer nanoseconds delta-encoded turn a column of similar floats into short
repetitive numbers that compress well: 100,000 deliveries take well under a
megabyte.  Times are rounded to the nanosecond, far below any latency simulated.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRACE_FILE = "trace.json.gz"
"""Name of the trace file in a run directory."""

FORMAT = "kvs-sim-trace"
VERSION = 1


class TraceError(ValueError):
    """A trace file cannot be read: not gzip/JSON, another format, bad columns."""


@dataclass(frozen=True)
class Messages:
    """Deliveries as columns: times in seconds, ranks (-1 client, -2 broker), kinds."""

    kinds: tuple[str, ...]
    sent: list[float]
    arrived: list[float]
    src: list[int]
    dst: list[int]
    kind: list[int]
    dropped: int = 0
    estimated: bool = False

    def __len__(self) -> int:
        return len(self.arrived)


def messages_from_deliveries(
    deliveries: Sequence[tuple[float, int, int, Any]],
    transit: Callable[[int, int, str], float] | None = None,
    *,
    dropped: int = 0,
    estimated: bool = False,
) -> Messages:
    """Columns from tracer deliveries ``(arrival, src, dst, msg or type name)``;
    ``transit(src, dst, name)`` gives how long each travelled (0 without it)."""
    index: dict[str, int] = {}
    sent: list[float] = []
    arrived: list[float] = []
    src: list[int] = []
    dst: list[int] = []
    kind: list[int] = []
    for t, a, b, msg in deliveries:
        name = msg if isinstance(msg, str) else type(msg).__name__
        k = index.setdefault(name, len(index))
        arrived.append(t)
        sent.append(t - (transit(a, b, name) if transit is not None else 0.0))
        src.append(a)
        dst.append(b)
        kind.append(k)
    return Messages(tuple(index), sent, arrived, src, dst, kind, dropped, estimated)


def save_messages(messages: Messages, path: str | Path) -> Path:
    """Write ``messages`` as a trace file (format in the module docstring)."""
    arrived_ns = [round(t * 1e9) for t in messages.arrived]
    deltas = [b - a for a, b in zip([0, *arrived_ns], arrived_ns, strict=False)]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "unit": "ns",
        "kinds": list(messages.kinds),
        "arrived": deltas,
        "transit": [a - round(s * 1e9) for a, s in zip(arrived_ns, messages.sent, strict=True)],
        "src": messages.src,
        "dst": messages.dst,
        "kind": messages.kind,
        "dropped": messages.dropped,
        "estimated": messages.estimated,
    }
    out = Path(path)
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=6) as f:
        json.dump(doc, f, separators=(",", ":"))
    return out


def save_run_trace(run: Any, directory: str | Path) -> Path | None:
    """Save a :class:`~kvs_sim.scenario.VariantRun`'s deliveries in ``directory``
    (None when the run kept none: a live run, or plots and reports were off)."""
    trace = run.trace
    if not trace.deliveries:
        return None
    messages = messages_from_deliveries(
        trace.deliveries,
        run.transit,
        dropped=trace.dropped,
        estimated=not str(run.options.get("latency", "")).startswith("const"),
    )
    return save_messages(messages, Path(directory) / TRACE_FILE)


def load_messages(path: str | Path) -> Messages:
    """Read a trace file; :class:`TraceError` with one line if it is not one."""
    p = Path(path)
    try:
        with gzip.open(p, "rt", encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, EOFError, ValueError) as e:
        raise TraceError(f"{p}: not a kvs-sim trace file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TraceError(f"{p}: not a kvs-sim trace file")
    if doc.get("version") != VERSION:
        raise TraceError(f"{p}: trace format version {doc.get('version')!r} is not supported")
    try:
        kinds = tuple(str(k) for k in doc["kinds"])
        cols = [doc[c] for c in ("arrived", "transit", "src", "dst", "kind")]
        if len({len(c) for c in cols}) > 1:
            raise TraceError(f"{p}: columns of different lengths")
        arrived: list[float] = []
        at = 0
        for d in cols[0]:
            at += int(d)
            arrived.append(at / 1e9)
        sent = [a - int(t) / 1e9 for a, t in zip(arrived, cols[1], strict=True)]
        kind = [int(k) for k in cols[4]]
        if any(not 0 <= k < len(kinds) for k in kind):
            raise TraceError(f"{p}: a message kind out of range")
        return Messages(
            kinds,
            sent,
            arrived,
            [int(x) for x in cols[2]],
            [int(x) for x in cols[3]],
            kind,
            int(doc.get("dropped", 0)),
            bool(doc.get("estimated", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, TraceError):
            raise
        raise TraceError(f"{p}: bad trace columns ({type(e).__name__}: {e})") from None
