"""Probabilistically bounded staleness (PBS): t-visibility and k-staleness by depth.

Theory of operation
-------------------
Two questions a designer asks of an eventually consistent store, answered from
one history (and, over many seeds, as Monte Carlo estimates):

* **t-visibility**: for a rank at depth ``d``, the probability that a read
  issued ``t`` seconds after a commit returned returns that commit's write (or a
  newer one).  From the history's records: each successful commit op says when
  it returned (``complete``) and which version it produced; each rank's root
  records say when that rank applied that version (or a newer one).  A read on
  rank ``r`` at ``complete + t`` sees the write exactly when ``r`` applied a
  version >= the commit's by then, so the delay of one (commit, rank) pair is
  ``max(0, applied - complete)``, and P(visible at t) at depth ``d`` is the
  fraction of pairs at that depth whose delay is <= t.  The committing rank is
  left out (read-your-writes makes it 1 by construction), and so are ranks that
  never applied the version (counted as never visible).
* **k-staleness**: the probability that a read on a rank at depth ``d`` returns
  a value at most ``k`` versions older than the newest at rank 0 when the read
  was invoked: from :func:`~kvs_sim.metrics.read_staleness_versions`.

Both return tidy rows ``{"depth", "t"|"k", "p", "n"}`` over fixed grids
(:data:`T_GRID` in seconds, :data:`K_GRID` versions), so rows of many runs stack
into one table and average into curves.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from kvs_sim.history import History
from kvs_sim.metrics._compute import rank_depths, read_staleness_versions

T_GRID: tuple[float, ...] = (
    *(i * 50e-6 for i in range(41)),  # 0 .. 2 ms in 50 us steps
    2.5e-3,
    3e-3,
    4e-3,
    5e-3,
    7.5e-3,
    10e-3,
    20e-3,
    50e-3,
)
"""Times after a commit returned at which t-visibility is evaluated (seconds)."""

K_GRID: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 8)
"""Version lags at which k-staleness is evaluated."""


def visibility_delays(history: History) -> dict[int, list[float]]:
    """Per depth, the delay from each successful commit's return to each other
    rank's first root at or past the commit's version (``inf``: never)."""
    depths = rank_depths(history)
    applied: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
    by_rank: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    for r in history.roots:
        by_rank[(r.ns, r.rank)].append((r.version, r.time))
    for key, recs in by_rank.items():
        recs.sort(key=lambda vt: (vt[1], vt[0]))
        # first time each rank reached at least version v: a running max over time
        versions: list[int] = []
        times: list[float] = []
        for v, t in recs:
            if not versions or v > versions[-1]:
                versions.append(v)
                times.append(t)
        applied[key] = (versions, times)
    ranks = sorted(depths) or history.ranks()
    out: dict[int, list[float]] = defaultdict(list)
    for o in history.ops:
        if o.op != "commit" or not o.ok or o.complete is None or o.version is None:
            continue
        for rank in ranks:
            if rank == o.rank or depths.get(rank) is None:
                continue
            versions, times = applied.get((o.ns, rank), ([], []))
            i = bisect_left(versions, o.version)
            delay = max(0.0, times[i] - o.complete) if i < len(versions) else float("inf")
            out[depths[rank]].append(delay)
    return dict(out)


def t_visibility(history: History, grid: Sequence[float] = T_GRID) -> list[dict[str, Any]]:
    """Rows ``{"depth", "t", "p", "n"}``: P(a read t s after a commit returned sees it)."""
    rows = []
    for depth, delays in sorted(visibility_delays(history).items()):
        xs = sorted(delays)
        n = len(xs)
        for t in grid:
            rows.append({"depth": depth, "t": t, "p": bisect_right(xs, t) / n, "n": n})
    return rows


def k_staleness(history: History, grid: Sequence[int] = K_GRID) -> list[dict[str, Any]]:
    """Rows ``{"depth", "k", "p", "n"}``: P(a read is at most k versions behind rank 0)."""
    by_depth: dict[int, list[int]] = defaultdict(list)
    for s in read_staleness_versions(history)["samples"]:
        if s["depth"] is not None:
            by_depth[s["depth"]].append(s["staleness"])
    rows = []
    for depth, lags in sorted(by_depth.items()):
        xs = sorted(lags)
        n = len(xs)
        for k in grid:
            rows.append({"depth": depth, "k": k, "p": bisect_right(xs, k) / n, "n": n})
    return rows
