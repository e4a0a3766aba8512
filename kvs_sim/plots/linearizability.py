"""A linearizability counterexample drawn: one lane per process, the impossible op in red.

Theory of operation
-------------------
:func:`counterexample_bars` turns a ``linearizable`` violation (whose ``ops`` are
the failing sub-history, the operation that cannot be placed last) into plain
:class:`Bar` records; :func:`plot_counterexample` draws them: each process a lane,
each operation a bar from invocation to completion labelled with what it did
(``w x=2``, ``r x=1``, ``cas x 1->2``), an indeterminate one fading out to the right
edge, the impossible one red with its label in bold, and the violation's words as
the caption.  Times in milliseconds (or event numbers for histories without
times).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from kvs_sim.checks import Violation
from kvs_sim.checks._common import canon, show_value
from kvs_sim.history import History, Op
from kvs_sim.plots._common import pyplot, save


@dataclass(frozen=True, slots=True)
class Bar:
    """One operation of the counterexample."""

    process: str
    start: float
    end: float | None
    label: str
    impossible: bool = False


def _label(o: Op) -> str:
    if o.op == "commit":
        parts = [f"{k}={show_value(canon(v))}" for k, v in (o.writes or {}).items()]
        return "w " + ", ".join(parts[:2])
    if o.op == "cas" and isinstance(o.value, list) and len(o.value) == 2:
        old, new = (show_value(canon(v)) for v in o.value)
        return f"cas {o.key} {old}->{new}"
    got = show_value(canon(o.value if o.ok else None))
    return f"r {o.key}={got}" if got != "absent" else f"r {o.key} absent"


def counterexample_bars(history: History, violation: Violation) -> list[Bar]:
    """The bars of ``violation`` (its last op is the impossible one)."""
    scale = 1.0 if history.header.config.get("time_unit") == "index" else 1e3
    ops = history.ops_by_id()
    bars = []
    for n, op_id in enumerate(violation.ops, start=1):
        o = ops[op_id]
        end = None if o.outcome_unknown or o.complete is None else o.complete * scale
        bars.append(
            Bar(o.process, o.invoke * scale, end, _label(o), impossible=n == len(violation.ops))
        )
    return bars


def plot_counterexample(
    bars: list[Bar], path: str | Path, *, caption: str = "", unit: str = "ms"
) -> Path:
    """Draw ``bars`` (see the module docstring) into the PNG ``path``."""
    plt = pyplot()
    lanes = sorted(
        {b.process for b in bars}, key=lambda p: min(b.start for b in bars if b.process == p)
    )
    t0 = min(b.start for b in bars)
    t1 = max(*(b.end if b.end is not None else b.start for b in bars), t0 + 1e-09)
    pad = (t1 - t0) * 0.08
    right = t1 + pad * 2
    # overlapping ops of one process (asynchronous futures) get rows of their own
    rows: dict[str, list[float]] = {p: [] for p in lanes}
    row_of: list[int] = []
    for b in sorted(bars, key=lambda b: b.start):
        ends = rows[b.process]
        free = next((i for i, e in enumerate(ends) if e < b.start), None)
        end = b.end if b.end is not None else right
        if free is None:
            ends.append(end)
            free = len(ends) - 1
        else:
            ends[free] = end
        row_of.append(free)
    base, y_of = 0.0, {}
    for p in lanes:
        y_of[p] = base
        base += max(1, len(rows[p]))
    ticks = [y_of[p] + (max(1, len(rows[p])) - 1) / 2 for p in lanes]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.7 * base))
    for b, row in zip(sorted(bars, key=lambda b: b.start), row_of, strict=True):
        y = y_of[b.process] + row
        end = b.end if b.end is not None else right
        color = "#d62728" if b.impossible else "#1f77b4"
        ax.barh(
            y,
            end - b.start,
            left=b.start,
            height=0.45,
            color=color,
            alpha=0.35 if b.end is None else 0.85,
            hatch="//" if b.end is None else None,
            edgecolor=color,
        )
        text = b.label + (" (outcome unknown)" if b.end is None else "")
        ax.text(
            b.start,
            y - 0.27,
            text,
            fontsize=9,
            color=color,
            fontweight="bold" if b.impossible else "normal",
            va="bottom",
        )
        if b.impossible:
            ax.annotate(
                "cannot be placed",
                xy=(end, y),
                xytext=(8, 0),
                textcoords="offset points",
                color=color,
                fontsize=9,
                va="center",
            )
    ax.set_yticks(ticks, lanes)
    ax.set_ylim(-0.8, base - 0.4)
    ax.set_xlim(t0 - pad, right + pad * 2)
    ax.invert_yaxis()
    ax.set_xlabel(f"time ({unit})")
    ax.set_title("Not linearizable: the smallest failing sub-history", loc="left", fontsize=11)
    if caption:
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 130)), fontsize=8, va="bottom")
    ax.grid(axis="x", alpha=0.3)
    lines = len(textwrap.wrap(caption, 130)) if caption else 0
    fig.tight_layout(rect=(0, 0.04 + 0.035 * lines, 1, 1))
    return save(fig, path)


def draw(history: History, violation: Violation, path: str | Path) -> Path:
    """:func:`counterexample_bars` and :func:`plot_counterexample` in one call."""
    unit = "event" if history.header.config.get("time_unit") == "index" else "ms"
    bars = counterexample_bars(history, violation)
    return plot_counterexample(bars, path, caption=violation.summary, unit=unit)
