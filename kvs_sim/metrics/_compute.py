"""Metrics over a history: how fast roots spread, how stale reads are, what commits cost.

Theory of operation
-------------------
Every metric is a pure function of a :class:`~kvs_sim.history.History` returning
plain Python data (dicts, lists of dicts, floats), so a notebook can put it straight
into a DataFrame and the terminal can render it (:mod:`kvs_sim.metrics._render`).

Latency-like metrics share one shape::

    {"samples": [{...one dict per measurement...}],
     "all": SUMMARY, "by_depth": [{"depth": d, **SUMMARY}], "by_rank": [{"rank": r,
     "depth": d, **SUMMARY}]}

where ``SUMMARY`` is ``{"count", "mean", "median", "p99", "max"}`` (``p99`` by the
nearest-rank method; all ``None`` when ``count`` is 0).  Times are in the history's
unit (seconds), versions are counts.

The measurements:

* **propagation**: for each follower root record, ``time`` minus the time rank 0
  created that version (rank 0's own record);
* **staleness_versions**: for each read, the newest version rank 0 had created when
  the read was invoked minus the version the read was served from (floored at 0: a
  read that waited for a newer version is not stale);
* **staleness_time**: for each rank and version, how long after the version was
  created the rank first *served* it in a read (completion of the first read that
  came from it);
* **commit_latency**: ``complete - invoke`` of each successful commit;
* **merge**: commits per version (1.0 means no merging), overall and per namespace;
* **convergence**: per namespace, when the last rank reached the final version and
  how long after its creation, plus the ranks that never did.

Depth: the ``depth`` list in the header's config (depth of each rank) when present,
else computed from ``size`` and ``fanout`` as a k-ary tree where rank r's parent is
``(r - 1) // fanout``.  Without either, ``by_depth`` is empty and depths are None.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kvs_sim.history import History, Op

Summary = dict[str, float | int | None]


def summarize(values: Iterable[float]) -> Summary:
    """count, mean, median, p99 (nearest rank) and max of ``values``."""
    xs = sorted(values)
    if not xs:
        return {"count": 0, "mean": None, "median": None, "p99": None, "max": None}
    p99 = xs[max(0, math.ceil(0.99 * len(xs)) - 1)]
    return {
        "count": len(xs),
        "mean": statistics.fmean(xs),
        "median": statistics.median(xs),
        "p99": p99,
        "max": xs[-1],
    }


def rank_depths(history: History) -> dict[int, int]:
    """Depth of each rank in the overlay, from the header's config (see module doc)."""
    config = history.header.config
    depth = config.get("depth")
    if isinstance(depth, list) and all(isinstance(d, int) for d in depth):
        return dict(enumerate(depth))
    size, fanout = config.get("size"), config.get("fanout")
    if not (isinstance(size, int) and isinstance(fanout, int) and fanout >= 1):
        return {}
    out: dict[int, int] = {}
    for r in range(size):
        out[r] = 0 if r == 0 else out[(r - 1) // fanout] + 1
    return out


def _grouped(samples: list[dict[str, Any]], value: str) -> dict[str, Any]:
    by_rank: dict[int, list[float]] = defaultdict(list)
    by_depth: dict[int, list[float]] = defaultdict(list)
    depth_of: dict[int, int | None] = {}
    for s in samples:
        by_rank[s["rank"]].append(s[value])
        depth_of[s["rank"]] = s["depth"]
        if s["depth"] is not None:
            by_depth[s["depth"]].append(s[value])
    return {
        "samples": samples,
        "all": summarize(s[value] for s in samples),
        "by_depth": [{"depth": d, **summarize(by_depth[d])} for d in sorted(by_depth)],
        "by_rank": [
            {"rank": r, "depth": depth_of[r], **summarize(by_rank[r])} for r in sorted(by_rank)
        ],
    }


def _created(history: History) -> dict[str, dict[int, float]]:
    return {ns: history.created(ns) for ns in history.namespaces()}


def propagation_latency(history: History) -> dict[str, Any]:
    """Setroot propagation: follower apply time minus creation time at rank 0.

    Version 0 (a namespace's initial, empty root) is not propagated by any setroot:
    ranks start with it or learn it on first use, so it is left out."""
    depths = rank_depths(history)
    created = _created(history)
    samples = []
    for r in history.roots:
        born = created[r.ns].get(r.version)
        if r.rank == 0 or born is None or r.version == 0:
            continue
        samples.append(
            {
                "ns": r.ns,
                "rank": r.rank,
                "depth": depths.get(r.rank),
                "version": r.version,
                "created": born,
                "applied": r.time,
                "latency": r.time - born,
            }
        )
    return _grouped(samples, "latency")


def _reads(history: History) -> list[Op]:
    return [
        o
        for o in history.ops
        if o.op in ("get", "watch")
        and o.version is not None
        and o.complete is not None
        and (o.ok or o.error == "ENOENT")
    ]


def read_staleness_versions(history: History) -> dict[str, Any]:
    """How many versions behind rank 0 each read was when it was invoked."""
    depths = rank_depths(history)
    timelines: dict[str, tuple[list[float], list[int]]] = {}
    for ns, born in _created(history).items():
        by_time = sorted((t, v) for v, t in born.items())
        newest: list[int] = []  # newest version created so far, at each creation time
        for _, v in by_time:
            newest.append(max(v, newest[-1]) if newest else v)
        timelines[ns] = ([t for t, _ in by_time], newest)
    samples = []
    for o in _reads(history):
        times, versions = timelines.get(o.ns, ([], []))
        i = bisect_right(times, o.invoke)
        if i == 0:
            continue
        assert o.version is not None
        latest = versions[i - 1]
        samples.append(
            {
                "id": o.id,
                "process": o.process,
                "ns": o.ns,
                "key": o.key,
                "rank": o.rank,
                "depth": depths.get(o.rank),
                "version": o.version,
                "latest": latest,
                "staleness": max(0, latest - o.version),
            }
        )
    return _grouped(samples, "staleness")


def read_staleness_time(history: History) -> dict[str, Any]:
    """How long after creation each rank first served each version in a read."""
    depths = rank_depths(history)
    created = _created(history)
    first: dict[tuple[int, str, int], float] = {}
    for o in _reads(history):
        assert o.version is not None and o.complete is not None
        k = (o.rank, o.ns, o.version)
        if k not in first or o.complete < first[k]:
            first[k] = o.complete
    samples = []
    for (rank, ns, version), served in sorted(first.items()):
        born = created.get(ns, {}).get(version)
        if born is None:
            continue
        samples.append(
            {
                "ns": ns,
                "rank": rank,
                "depth": depths.get(rank),
                "version": version,
                "created": born,
                "served": served,
                "delay": served - born,
            }
        )
    return _grouped(samples, "delay")


def commit_latency(history: History) -> dict[str, Any]:
    """``complete - invoke`` of every successful commit, by rank and depth."""
    depths = rank_depths(history)
    samples = [
        {
            "id": o.id,
            "process": o.process,
            "ns": o.ns,
            "rank": o.rank,
            "depth": depths.get(o.rank),
            "version": o.version,
            "latency": o.complete - o.invoke,
        }
        for o in history.ops
        if o.op == "commit" and o.ok and o.complete is not None
    ]
    return _grouped(samples, "latency")


def merge_ratio(history: History) -> dict[str, Any]:
    """Commits per version produced, overall and per namespace."""
    rows = []
    total_c = total_v = 0
    for ns in history.namespaces():
        by_version = history.commits_by_version(ns)
        if not by_version:
            continue
        c, v = sum(len(cs) for cs in by_version.values()), len(by_version)
        total_c, total_v = total_c + c, total_v + v
        rows.append({"ns": ns, "commits": c, "versions": v, "ratio": c / v})
    ratio = total_c / total_v if total_v else None
    return {"commits": total_c, "versions": total_v, "ratio": ratio, "by_ns": rows}


def convergence_times(history: History) -> list[dict[str, Any]]:
    """Per namespace: when every rank had the final version, or who never did."""
    finals = history.final_versions()
    ranks = history.ranks()
    rows = []
    for ns in sorted({r.ns for r in history.roots}):
        final = finals[ns]
        born = history.created(ns).get(final)
        reached: dict[int, float] = {}
        for r in history.roots:
            if r.ns == ns and r.version >= final and r.rank not in reached:
                reached[r.rank] = r.time
        missing = [r for r in ranks if r not in reached]
        at = None if missing or not reached else max(reached.values())
        rows.append(
            {
                "ns": ns,
                "final": final,
                "created": born,
                "converged_at": at,
                "convergence_time": None if at is None or born is None else at - born,
                "ranks_reached": len(reached),
                "ranks_total": len(ranks),
                "missing": missing,
            }
        )
    return rows


def compute_metrics(history: History) -> dict[str, Any]:
    """Every metric above, by name."""
    return {
        "propagation": propagation_latency(history),
        "staleness_versions": read_staleness_versions(history),
        "staleness_time": read_staleness_time(history),
        "commit_latency": commit_latency(history),
        "merge": merge_ratio(history),
        "convergence": convergence_times(history),
    }
