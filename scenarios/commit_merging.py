"""Commit merging: concurrent commits share one version each batch, unless NO_MERGE.

Writers on ranks all over the tree commit back to back, each to its own key
plus one shared key ``last``.  The leader applies commits in batches: whatever
arrived while it was busy applying the previous batch goes into the next one,
which produces one new root, one version and one setroot event for all of them.
So with merging there are far fewer versions than commits, commits finish
sooner, and a watcher of ``last`` misses intermediate values (it is told about
each version, not each commit).  With the NO_MERGE flag every commit gets a
version of its own, in a queue: slower, and the watcher sees more values.

Variants: merged (flags 0) and no-merge (NO_MERGE).  Both claim read-your-writes
(each writer reads its key back), monotonic reads and writes, writes-follow-reads,
read validity (a read of a merged version may return any of its values) and
convergence.
"""

from __future__ import annotations

from typing import Any

from kvs_sim.core.flags import NO_MERGE, WAITCREATE

CLAIMS = (
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "read-validity",
    "convergence",
)
DEFAULTS: dict[str, Any] = {"size": 31, "fanout": 2, "seed": 1, "writers": 16, "commits": 10}
PARAMS: dict[str, dict[str, Any]] = {
    "writers": {"min": 1, "max": 10_000, "help": "concurrent writers, spread over the ranks"},
    "commits": {"min": 1, "max": 100_000, "help": "commits per writer"},
    "flags": {"choices": (0, NO_MERGE), "help": "commit flags: 0 or NO_MERGE (the variants)"},
}
VARIANTS: dict[str, dict[str, Any]] = {"merged": {"flags": 0}, "no-merge": {"flags": NO_MERGE}}


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    writers, commits, flags = (args.params[k] for k in ("writers", "commits", "flags"))
    args.expect(writers * commits * 2 + 2)
    # Spread the writers over the ranks, deepest first, round robin.
    ranks = sorted(range(cluster.size), key=lambda r: (-cluster.overlay.depth[r], r))
    handles = [cluster.handle(ranks[i % len(ranks)], name=f"w{i}") for i in range(writers)]
    watcher = cluster.handle(0, name="watcher").watch("last", flags=WAITCREATE)
    start = cluster.now

    async def write(i: int, h: Any) -> None:
        for n in range(commits):
            await h.commit([_put(f"w{i}", n), _put("last", f"w{i}.{n}")], flags=flags)
            assert await h.get(f"w{i}") == n

    tasks = [cluster.spawn(write(i, h)) for i, h in enumerate(handles)]
    for t in tasks:
        await t
    elapsed = cluster.now - start
    await cluster.sleep(2e-3)  # let the last setroot reach the watcher
    await watcher.cancel()

    history = cluster.recorder.history()
    made = [o for o in history.ops if o.op == "commit" and o.ok and o.process != "setup"]
    versions = {o.version for o in made}
    watched = sum(1 for o in history.ops if o.op == "watch" and o.process == "watcher")
    total = writers * commits
    return {
        "findings": {
            "flags": "NO_MERGE" if flags & NO_MERGE else "none (merging allowed)",
            "commits": total,
            "versions they produced": len(versions),
            "commits per version": round(total / len(versions), 2),
            "time for all commits (ms)": round(1e3 * elapsed, 3),
            "commits per second (virtual)": round(total / elapsed) if elapsed else None,
            "values of `last` the watcher saw": f"{watched} of {total}",
            "values of `last` the watcher missed %": round(100 * (1 - watched / total), 1),
        }
    }


def _put(key: str, value: Any) -> dict[str, Any]:
    """One put operation of a transaction (the format Handle.commit takes)."""
    from kvs_sim.core.txn import Txn

    txn = Txn()
    txn.put(key, value)
    return txn.ops[0]
