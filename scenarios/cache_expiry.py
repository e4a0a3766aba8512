"""Cache expiry time against fault load: how often do followers fault objects in again?

A follower keeps each tree object it faulted in until it has gone unused for
``cache_expiry`` seconds (Flux: about 10 s).  Readers on the deepest ranks read
a set of keys round robin, each key every few hundred milliseconds, for a few
virtual seconds, while nobody writes.  With an expiry shorter than the time
between two reads of a key, every read faults its objects in again, hop by hop
up to rank 0 (the fault load); with a longer one the cache serves them.  Sweep
the expiry (docs/research.md):

    kvs-sim sweep scenarios/cache_expiry.py --grid cache_expiry=0.05,0.2,1,10 --seeds 5
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {
    "size": 63,
    "fanout": 2,
    "seed": 0,
    "keys": 16,
    "readers": 4,
    "period": 0.02,
    "duration": 3.0,
}
PARAMS: dict[str, dict[str, Any]] = {
    "keys": {"min": 1, "max": 10_000, "help": "keys the readers cycle through"},
    "readers": {"min": 1, "max": 1_000, "help": "readers on the deepest ranks"},
    "period": {"min": 1e-4, "max": 100.0, "help": "seconds between two reads of one reader"},
    "duration": {"min": 0.01, "max": 1_000.0, "help": "seconds the readers read"},
}
MIN_SIZE = 2


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    keys, nreaders, period, duration = (
        args.params[k] for k in ("keys", "readers", "period", "duration")
    )
    overlay = cluster.overlay
    deep = sorted(range(1, cluster.size), key=lambda r: (-overlay.depth[r], r))
    readers = [cluster.handle(deep[i % len(deep)], name=f"r{i}") for i in range(nreaders)]
    reads_each = max(1, int(duration / period))
    args.expect(keys + nreaders * reads_each)
    setup = cluster.handle(0, name="setup")
    for k in range(keys):
        await setup.put(f"d{k}.v", k)
    seq = await setup.get_version()
    for h in readers:
        await h.wait_version(seq)
    before = {h.rank: cluster.stats(h.rank)["counters"].get("faults", 0) for h in readers}

    async def read(i: int, h: Any) -> None:
        for n in range(reads_each):
            k = (i + n) % keys
            assert await h.get(f"d{k}.v") == k
            await cluster.sleep(period)

    tasks = [cluster.spawn(read(i, h)) for i, h in enumerate(readers)]
    for t in tasks:
        await t
    faults = sum(cluster.stats(r)["counters"].get("faults", 0) - f for r, f in before.items())
    reads = nreaders * reads_each
    served = sum(cluster.stats(r)["counters"].get("loads_served", 0) for r in range(cluster.size))
    return {
        "findings": {
            "reads": reads,
            "faults per read": round(faults / reads, 4),
            "loads served by all ranks": served,
            "seconds between two reads of one key": round(period * keys / 1, 4),
        }
    }
