"""A slow inner rank delays its whole subtree: every object faulted in below it.

Rank 1, an interior rank of the tree, is made ``factor`` times slower (its KVS
module's service time; a busy or throttled node).  After every rank drops its
cache, readers in rank 1's subtree and in its sibling's subtree read the same
keys cold: each missing object is faulted in from the parent, hop by hop, so
every fault below rank 1 waits for rank 1 to serve it.  What the slow rank does
*not* delay: setroot events reaching its subtree, because brokers forward events
in the overlay before the KVS module sees them (the findings measure both).

Live (``--live``), the slow rank stays busy ``factor - 1`` times the service time
the simulator's model charges for each message it handles (docs/faults-live.md),
so the slow subtree's cold reads take about as long as in a simulation; the
ratio to the sibling is smaller, since every fault there crosses broker hops of
a fraction of a millisecond rather than the simulator's 40 microseconds.

Claims: read-your-writes, monotonic reads, read validity and convergence: a slow
rank changes when answers come, never what they are.
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {"size": 15, "fanout": 2, "seed": 1, "factor": 50.0, "keys": 20}
PARAMS: dict[str, dict[str, Any]] = {
    "factor": {"min": 1.0, "max": 1e6, "help": "how many times slower rank 1 serves"},
    "keys": {"min": 1, "max": 100_000, "help": "keys read cold in each subtree"},
}
VARIANTS = {"slow": {}, "normal": {"factor": 1.0}}
MIN_SIZE = 7


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    from kvs_sim.core.txn import Txn
    from kvs_sim.nemesis import Slow, subtree

    factor, keys = float(args.params["factor"]), int(args.params["keys"])
    parent = cluster.overlay.parent
    depth = cluster.overlay.depth
    slow_side, fast_side = subtree(parent, 1), subtree(parent, 2)
    deepest_slow = max(slow_side, key=lambda r: (depth[r], r))
    deepest_fast = max(fast_side, key=lambda r: (depth[r], -r))
    args.expect(cluster.size + 4 * keys + 10)
    if factor > 1:
        cluster.inject(Slow(rank=1, factor=factor))
    writer = cluster.handle(0, name="writer")
    txn = Txn()
    for i in range(keys):
        txn.put(f"data.k{i}.value", i)  # one directory per key: one fault each
    await writer.commit(txn)
    version = await writer.get_version()
    created = cluster.now
    lag = {}
    for r in (deepest_slow, deepest_fast):
        h = cluster.handle(r, name=f"waiter@{r}")
        await h.wait_version(version)
        lag[r] = cluster.now - created
    for r in range(cluster.size):
        await cluster.handle(r, name=f"dropcache@{r}").dropcache()
    rows = []
    for side, r in (("below the slow rank", deepest_slow), ("below its sibling", deepest_fast)):
        reader = cluster.handle(r, name=f"reader@{r}")
        t0 = cluster.now
        for i in range(keys):
            assert await reader.get(f"data.k{i}.value") == i
        rows.append(
            {
                "subtree": side,
                "rank": r,
                "depth": depth[r],
                f"cold read of {keys} keys (ms)": round(1e3 * (cluster.now - t0), 3),
                "setroot lag (ms)": round(1e3 * lag[r], 3),
            }
        )
    cold = [row[f"cold read of {keys} keys (ms)"] for row in rows]
    ratio = round(cold[0] / cold[1], 2)
    return {
        "findings": {
            "slow rank": 1,
            "service-time factor": factor,
            "cold reads, slow subtree / sibling subtree": ratio,
            "by subtree": rows,
        },
        "focus": {
            "ranks": list(reversed(cluster.overlay.path(deepest_slow, 0))),
            "title": f"Rank 1 serves {factor:g}x slower: every fault below it waits",
        },
    }
