"""An animated GIF of a setroot wave going down the tree while far ranks stay stale.

Theory of operation
-------------------
:func:`version_timelines` turns a history's root records into, per rank, the
times at which its root version changed (and to what), so :func:`version_at` can
answer "which version did rank r serve at time t" by bisection.
:func:`plot_wave` draws the overlay with :func:`~kvs_sim.plots.tree_layout` once,
then, frame by frame over a time window, colours every rank by how many versions
it is behind rank 0 at that instant (green: current; yellow, orange, red: one,
two, three or more behind), and writes the frames as a GIF with matplotlib's
Pillow writer (Pillow comes with matplotlib: no new dependency).  Reads that
happen in a frame are written next to their rank ("x=3 (v2)"), so a far reader
answering an old value while the wave has not reached it is visible.

Like every plot here it takes plain data; :func:`wave_inputs` derives them from a
history and the version a run focuses on.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kvs_sim.history import History
from kvs_sim.plots._common import legend_below, pyplot
from kvs_sim.plots.propagation import tree_layout

BEHIND_COLOURS = ("#2ca02c", "#ffd92f", "#ff7f0e", "#d62728")
"""Rank colour by versions behind rank 0: 0, 1, 2, 3 or more."""

Timeline = tuple[list[float], list[int]]


def version_timelines(history: History, ns: str = "primary") -> dict[int, Timeline]:
    """Per rank: the times its root changed and the version it changed to (sorted)."""
    by_rank: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for r in history.roots:
        if r.ns == ns:
            by_rank[r.rank].append((r.time, r.version))
    out: dict[int, Timeline] = {}
    for rank, records in by_rank.items():
        records.sort()
        out[rank] = ([t for t, _ in records], [v for _, v in records])
    return out


def version_at(timeline: Timeline | None, t: float) -> int:
    """The version a rank served at time ``t`` (0 before its first record)."""
    if not timeline:
        return 0
    times, versions = timeline
    i = bisect_right(times, t)
    return versions[i - 1] if i else 0


def wave_inputs(
    history: History, version: int, ns: str = "primary"
) -> tuple[dict[int, Timeline], tuple[float, float], list[tuple[float, int, str]]]:
    """Timelines, the window from just before ``version`` was created to just after
    the last rank applied it, and every read in that window as (time, rank, text)."""
    timelines = version_timelines(history, ns)
    created = history.created(ns).get(version, 0.0)
    reached = [
        next((t for t, v in zip(*tl, strict=True) if v >= version), None)
        for tl in timelines.values()
    ]
    last = max((t for t in reached if t is not None), default=created)
    span = max(last - created, 1e-5)
    window = (created - 0.15 * span, last + 0.15 * span)
    reads = [
        (o.complete, o.rank, f"{o.key}={o.value} (v{o.version})")
        for o in history.ops
        if o.op == "get"
        and o.ok
        and o.complete is not None
        and o.ns == ns
        and window[0] <= o.complete <= window[1]
    ]
    return timelines, window, reads


def plot_wave(
    parent: Sequence[int],
    timelines: Mapping[int, Timeline],
    path: str | Path,
    *,
    window: tuple[float, float],
    reads: Sequence[tuple[float, int, str]] = (),
    frames: int = 36,
    marks: Mapping[int, str] | None = None,
    title: str = "A setroot wave going down the tree",
    ms_per_frame: int = 180,
) -> Path:
    """Write the animation as a GIF at ``path`` (see the module docstring)."""
    plt = pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.lines import Line2D

    n = len(parent)
    pos = tree_layout(parent)
    xs = [pos[r][0] for r in range(n)]
    ys = [pos[r][1] for r in range(n)]
    t0, t1 = window
    steps = max(2, frames)
    times = [t0 + (t1 - t0) * i / (steps - 1) for i in range(steps)]
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.9 * (1 - min(ys))))
    for r in range(1, n):
        p = parent[r]
        ax.plot([xs[p], xs[r]], [ys[p], ys[r]], color="#bbbbbb", lw=0.8, zorder=1)
    size = 260 if n <= 64 else max(20, int(9000 / n))
    nodes = ax.scatter(xs, ys, s=size, c=[BEHIND_COLOURS[0]] * n, edgecolors="#333333", zorder=2)
    if n <= 64:
        for r in range(n):
            ax.text(xs[r], ys[r], str(r), ha="center", va="center", fontsize=7, zorder=3)
    for r, text in (marks or {}).items():
        ax.annotate(
            text,
            (xs[r], ys[r]),
            xytext=(0, -14),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            color="#7b3294",
        )
    read_texts = [
        ax.text(xs[r] + 0.3, ys[r] + 0.18, "", fontsize=7, color="#222222", zorder=4)
        for r in range(n)
    ]
    handles = [
        Line2D([], [], marker="o", ls="", mfc=c, mec="#333333", ms=8, label=label)
        for c, label in zip(
            BEHIND_COLOURS,
            ("current", "1 version behind", "2 behind", "3+ behind"),
            strict=True,
        )
    ]
    legend_below(ax, handles)
    ax.set_xlim(min(xs) - 1, max(xs) + 1.5)
    ax.set_ylim(min(ys) - 0.6, 0.5)
    ax.set_yticks([-float(d) for d in range(int(-min(ys)) + 1)])
    ax.set_yticklabels([f"depth {d}" for d in range(int(-min(ys)) + 1)])
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.tick_params(axis="y", left=False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    heading = ax.set_title(f"{title}\nt = 0 ms", fontsize=10)  # two lines, as every frame
    fig.tight_layout()
    shown_reads = sorted(reads)
    dt = (t1 - t0) / (steps - 1)

    def draw(i: int) -> Any:
        t = times[i]
        newest = version_at(timelines.get(0), t)
        behind = [newest - version_at(timelines.get(r), t) for r in range(n)]
        nodes.set_facecolors([BEHIND_COLOURS[min(max(b, 0), 3)] for b in behind])
        for txt in read_texts:
            txt.set_text("")
        for when, rank, text in shown_reads:
            if t - 3 * dt < when <= t and rank < n:
                read_texts[rank].set_text(text)
        stale = sum(1 for b in behind if b > 0)
        heading.set_text(
            f"{title}\nt = {1e3 * t:.3f} ms: rank 0 at v{newest}, {stale} of {n} ranks behind"
        )
        return (nodes, heading, *read_texts)

    anim = FuncAnimation(fig, draw, frames=steps, blit=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(out, writer=PillowWriter(fps=max(1, round(1000 / ms_per_frame))))
    plt.close(fig)
    return out
