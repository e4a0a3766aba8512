"""A partitioned subtree: how stale it gets, and how fast it recovers, by depth.

One depth at a time, the subtree below one rank at that depth is cut off from its
parent for ``partition`` seconds while the writer on rank 0 keeps committing.
Readers in the cut subtree keep reading their rank's root: stale, but never
going backwards (a read that needs an object from across the cut waits for the
heal with ``hold``, or fails with EHOSTUNREACH with ``drop``, as Flux's overlay
fails requests to a lost peer; the reader here has its root's objects cached).
At the heal the subtree catches up (held events are delivered
in order, or, with ``drop``, each rank fetches the current root again), and the
findings say how many versions behind it was and how long recovery took after
the heal, by depth.

Claims: read-your-writes (the writer), monotonic reads, read validity and
convergence, in both modes.  Nothing is claimed of reads across the cut: Flux
promises only eventual consistency there.
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {
    "size": 15,
    "fanout": 2,
    "seed": 1,
    "partition": 0.02,
    "gap": 0.002,
    "mode": "hold",
}
PARAMS: dict[str, dict[str, Any]] = {
    "partition": {"min": 0.001, "max": 60.0, "help": "seconds each subtree stays cut off"},
    "gap": {"min": 0.0001, "help": "seconds between the writer's commits"},
    "mode": {"choices": ["hold", "drop"], "help": "messages across the cut wait, or are lost"},
}
VARIANTS = {"hold": {"mode": "hold"}, "drop": {"mode": "drop"}}
MIN_SIZE = 3


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    import errno

    from kvs_sim.nemesis import Partition, subtree

    p = args.params
    span, gap, mode = float(p["partition"]), float(p["gap"]), str(p["mode"])
    parent, depth = cluster.overlay.parent, cluster.overlay.depth
    deepest = max(range(cluster.size), key=lambda r: (depth[r], r))
    path = list(reversed(cluster.overlay.path(deepest, 0)))[1:]  # one rank per depth
    writer = cluster.handle(0, name="writer")
    args.expect(len(path) * (int(span / gap) * 3 + 4))
    await writer.put("x", 0)
    rows = []
    n = 0  # the value written last
    for cut_at in path:
        cut = subtree(parent, cut_at)
        leaf = max(cut, key=lambda r: (depth[r], r))
        reader = cluster.handle(leaf, name=f"reader@depth{depth[cut_at]}")
        await reader.wait_version(await writer.get_version())
        await reader.get("x")  # warm: the reader's rank holds the objects of its root
        cluster.inject(Partition(ranks=cut, mode=mode), span)
        heal = cluster.now + span
        stale = reads = unreachable = 0
        while cluster.now + 2 * gap < heal:  # write while the subtree is cut off
            n += 1
            await writer.put("x", n)
            reads += 1
            try:
                if await reader.get("x") != n:
                    stale += 1
            except OSError as e:  # drop: an object from across the cut (Flux's overlay)
                if mode != "drop" or e.errno != errno.EHOSTUNREACH:
                    raise
                unreachable += 1
            await cluster.sleep(gap)
        behind = cluster.version(0) - cluster.version(leaf)
        await cluster.sleep(max(0.0, heal - cluster.now))
        t0 = cluster.now
        await reader.wait_version(await writer.get_version())
        rows.append(
            {
                "depth cut": depth[cut_at],
                "ranks cut off": len(cut),
                "stale reads during the cut": f"{stale}/{reads}",
                "reads failed EHOSTUNREACH": unreachable,
                "versions behind just before the heal": behind,
                "recovery after the heal (ms)": round(1e3 * (cluster.now - t0), 3),
            }
        )
    return {
        "findings": {"mode": mode, "partition (ms)": 1e3 * span, "by depth": rows},
        "focus": {
            "ranks": list(reversed(cluster.overlay.path(deepest, 0))),
            "title": f"Subtrees cut off for {span * 1e3:g} ms ({mode}), one depth at a time",
        },
    }
