"""Cold-cache fault cost by depth: after dropcache, a read faults objects from rank 0.

Rank 0 writes a directory of values and every rank learns the new root.  Then,
one depth at a time, every rank drops its cache (``dropcache``) and a reader on
a rank at that depth reads the keys twice: cold, then warm.  A follower holds
only the root reference after a setroot; a lookup walks the tree from the root
object and faults each missing object in from its parent, which faults it from
its own parent, up to rank 0, which holds everything.  So the first cold read
pays about one round trip per level of depth, the others share the objects
already faulted in, and warm reads cost the same everywhere.

Claims: read-your-writes, monotonic reads, read validity and convergence:
dropping a cache changes how long a read takes, never what it returns.
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {"size": 63, "fanout": 2, "seed": 1, "keys": 20}
PARAMS: dict[str, dict[str, Any]] = {
    "keys": {"min": 1, "max": 100_000, "help": "keys written, then read cold on every depth"},
}
MIN_SIZE = 2


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    from kvs_sim.core.txn import Txn

    keys = args.params["keys"]
    overlay = cluster.overlay
    deepest = max(range(cluster.size), key=lambda r: (overlay.depth[r], r))
    path = list(reversed(overlay.path(deepest, 0)))[1:]  # one follower per depth
    args.expect(2 + len(path) * (cluster.size + 2 * keys + 2))

    writer = cluster.handle(0, name="writer")
    txn = Txn()
    for i in range(keys):
        txn.put(f"jobs.j{i}.state", f"done-{i}")
    reply = await writer.commit(txn)
    assert await writer.get("jobs.j0.state") == "done-0"
    droppers = [cluster.handle(r, name=f"dropcache@{r}") for r in range(cluster.size)]
    for h in droppers[1:]:
        await h.wait_version(reply["seq"])

    rows = []
    for rank in path:
        for h in droppers:  # every rank, so the parents are cold too
            await h.dropcache()
        reader = cluster.handle(rank, name=f"reader@depth{overlay.depth[rank]}")
        before = (await reader.stats())["counters"].get("faults", 0)
        t0 = cluster.now
        assert await reader.get("jobs.j0.state") == "done-0"
        first = cluster.now - t0
        for i in range(1, keys):
            assert await reader.get(f"jobs.j{i}.state") == f"done-{i}"
        cold = cluster.now - t0
        faults = (await reader.stats())["counters"].get("faults", 0) - before
        t0 = cluster.now
        for i in range(keys):
            await reader.get(f"jobs.j{i}.state")
        warm = cluster.now - t0
        rows.append(
            {
                "depth": overlay.depth[rank],
                "rank": rank,
                "cold first read (ms)": round(1e3 * first, 3),
                f"cold, all {keys} keys (ms)": round(1e3 * cold, 3),
                f"warm, all {keys} keys (ms)": round(1e3 * warm, 3),
                "faults": faults,
            }
        )
    first_ms = [row["cold first read (ms)"] for row in rows]
    per_level = (first_ms[-1] - first_ms[0]) / (len(rows) - 1) if len(rows) > 1 else None
    return {
        "findings": {
            "keys in the directory": keys,
            "cold first read, per extra level of depth (ms)": round(per_level, 3)
            if per_level is not None
            else "-",
            "fault cost by depth": rows,
        },
        "focus": {
            "window": _last_cold_read(cluster, path[-1]),
            "ranks": overlay.path(path[-1], 0),
            "title": f"The cold read of jobs.j0.state on rank {path[-1]} after dropcache: "
            "each missing directory is faulted in from rank 0, hop by hop",
        },
    }


def _last_cold_read(cluster: Any, rank: int) -> tuple[float, float]:
    """The first (cold) read of the deepest reader, from invocation to answer."""
    ops = [
        o
        for o in cluster.recorder.history().ops
        if o.rank == rank and o.op == "get" and o.process.startswith("reader")
    ]
    first = ops[0]
    span = first.complete - first.invoke
    return (first.invoke - 0.05 * span, first.complete + 0.05 * span)
