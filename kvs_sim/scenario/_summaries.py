"""Summaries of a finished simulated run: follower caches and overlay traffic.

Theory of operation
-------------------
Pure functions of plain data the cluster hands over at the end of a run (each
rank's ``stats``, the engine's per-link message counts, each rank's depth), so
the live engine, which has stats but no link counts, uses the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cache_summary(stats: list[dict[str, Any]], depth: list[int]) -> dict[str, Any]:
    """Follower cache activity by tree depth, from each rank's ``stats``: object
    lookups served from the cache (hits), objects faulted in from the parent
    (faults), objects served to children (loads served), and what the caches hold
    at the end."""
    rows: dict[int, dict[str, int]] = {}
    for r, st in enumerate(stats):
        if r == 0 or not st:
            continue
        counters = st.get("counters", {})
        row = rows.setdefault(
            depth[r], {"ranks": 0, "hits": 0, "faults": 0, "loads_served": 0, "objects": 0}
        )
        row["ranks"] += 1
        for key in ("hits", "faults", "loads_served"):
            row[key] += counters.get(key, 0)
        row["objects"] += st.get("cache", {}).get("objects", 0)
    by_depth = [{"depth": d, **row} for d, row in sorted(rows.items())]
    return {
        "hits": sum(r["hits"] for r in by_depth),
        "faults": sum(r["faults"] for r in by_depth),
        "by_depth": by_depth,
    }


def traffic(links: Mapping[tuple[int, int], int], depth: list[int], deliveries: int) -> dict:
    """Messages per overlay link: total, mean, the busiest link, rank 0's share."""
    if not links:
        return {"deliveries": deliveries, "links": 0}
    busiest = max(links.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
    from_0 = sum(n for (a, _), n in links.items() if a == 0)
    to_0 = sum(n for (_, b), n in links.items() if b == 0)
    by_depth: dict[int, list[int]] = {}
    for (a, b), n in links.items():
        if a >= 0 and b >= 0:
            by_depth.setdefault(max(depth[a], depth[b]), []).append(n)
    return {
        "deliveries": deliveries,
        "links": len(links),
        "messages": sum(links.values()),
        "mean_per_link": sum(links.values()) / len(links),
        "busiest_link": list(busiest[0]),
        "busiest_link_messages": busiest[1],
        "sent_by_rank0": from_0,
        "received_by_rank0": to_0,
        "mean_per_link_by_depth": {str(d): sum(v) / len(v) for d, v in sorted(by_depth.items())},
    }
