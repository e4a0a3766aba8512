"""Read-your-writes: wait for the setroot (Flux today) or take the root from the commit response?

Today a follower answers its client's commit once the setroot event naming
the transaction has come down the tree to it, so the committer's next read
sees its write.  The older design in Flux's guide piggy-backs the new root on
the commit response instead: the committing rank takes it on the way back and
answers at once.  Both give read-your-writes; the question is what the wait
for the event costs the committer, by depth, and how that grows with the
fanout (rank 0 forwards each event to more children) and the event routing.

Writers, one per depth down the deepest path, commit back to back and read
their own writes.  Variants: ``setroot`` and ``response`` (the ``ryw_via``
option).  Sweep it over the fanout (docs/research.md):

    kvs-sim sweep scenarios/ablation_ryw.py --grid fanout=2,8,32 --seeds 10
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "monotonic-writes", "convergence")
DEFAULTS: dict[str, Any] = {"size": 255, "fanout": 2, "seed": 0, "commits": 10}
PARAMS: dict[str, dict[str, Any]] = {
    "commits": {"min": 1, "max": 100_000, "help": "commits per writer"},
}
MIN_SIZE = 2
VARIANTS: dict[str, dict[str, Any]] = {
    "setroot": {"ryw_via": "setroot"},
    "response": {"ryw_via": "response"},
}


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    commits = args.params["commits"]
    overlay = cluster.overlay
    deepest = max(range(cluster.size), key=lambda r: (overlay.depth[r], r))
    path = list(reversed(overlay.path(deepest, 0)))[1:]  # one follower per depth
    writers = [cluster.handle(r, name=f"writer@depth{overlay.depth[r]}") for r in path]
    args.expect(2 * commits * len(writers))

    async def write(h: Any) -> float:
        total = 0.0
        for i in range(commits):
            start = cluster.now
            await h.put(f"k{h.rank}", i)
            total += cluster.now - start
            assert await h.get(f"k{h.rank}") == i
        return total / commits

    for h in writers:  # one at a time: no merging, each commit's own cost
        await cluster.spawn(write(h))
    from kvs_sim.metrics import commit_latency

    by_depth = {
        d["depth"]: d["mean"] for d in commit_latency(cluster.recorder.history())["by_depth"]
    }
    top = max(by_depth)
    return {
        "findings": {
            "ryw via": args.variant or "setroot",
            "commit latency at the deepest rank (ms)": round(1e3 * by_depth[top], 4),
            "commit latency at depth 1 (ms)": round(1e3 * by_depth[min(by_depth)], 4),
        }
    }
