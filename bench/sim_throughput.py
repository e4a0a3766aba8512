"""Standard simulator workload: how many message deliveries per wall second.

1,024 ranks in a binary tree (fanout 2); 8 writers on random ranks issue 10,000
commits in total (each a put of one key, sequential per writer); every setroot
reaches every rank.  More concurrent writers means more commit merging, so fewer
versions and fewer deliveries per commit: the commit path (hash-tree updates at
the leader) then dominates the wall time.  ``--writers`` varies it.

A *delivery* is one message arriving at one rank (events, requests, responses,
content loads), counted by the engine.

Also measures the memory of an idle 16,384-rank cluster (tracemalloc bytes per
rank after construction).

The workload runs ``--repeat`` times (3; one seed, so identical runs) and the
median by wall time is reported.  Prints a human summary, then as its last line a
JSON object with at least
``deliveries_per_s``, ``ranks``, ``commits``, ``versions``, ``wall_s`` and
``peak_rss_mib``.  ``--profile`` prints the top cProfile entries.

    python bench/sim_throughput.py [--ranks 1024] [--commits 10000] [--writers 8]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import resource
import sys
import time
import tracemalloc

from kvs_sim.sim.cluster import Cluster


def workload(ranks: int, commits: int, writers: int, seed: int) -> dict[str, float]:
    c = Cluster(size=ranks, fanout=2, seed=seed)
    pick = random.Random(seed)
    per_writer, extra = divmod(commits, writers)

    async def writer(w: int, rank: int, n: int) -> None:
        h = c.handle(rank)
        for i in range(n):
            await h.put(f"w{w}.k{i % 16}", i)

    for w in range(writers):
        c.spawn(writer(w, pick.randrange(ranks), per_writer + (1 if w < extra else 0)))
    start = time.perf_counter()
    c.run()
    wall = time.perf_counter() - start
    assert c.converged(), "the cluster did not converge"
    deliveries = c.engine.deliveries
    return {
        "ranks": ranks,
        "writers": writers,
        "commits": commits,
        "versions": c.version(0),
        "deliveries": deliveries,
        "wall_s": round(wall, 3),
        "deliveries_per_s": round(deliveries / wall),
        "virtual_s": round(c.now, 4),
    }


def idle_memory(ranks: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    c = Cluster(size=ranks, fanout=2, seed=0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert c.size == ranks
    return used / ranks


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, default=1024)
    p.add_argument("--commits", type=int, default=10_000)
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--idle-ranks", type=int, default=16_384)
    p.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    runs = [workload(args.ranks, args.commits, args.writers, args.seed)]
    for _ in range(1, max(1, args.repeat) if not args.profile else 1):
        runs.append(workload(args.ranks, args.commits, args.writers, args.seed))
    assert len({r["deliveries"] for r in runs}) == 1, "the same seed must give the same run"
    runs.sort(key=lambda r: r["wall_s"])
    result = dict(runs[len(runs) // 2])  # the median run by wall time
    result["wall_s_runs"] = [r["wall_s"] for r in runs]
    if args.profile:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    result["idle_bytes_per_rank"] = round(idle_memory(args.idle_ranks))
    result["idle_ranks"] = args.idle_ranks
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(
        f"{result['ranks']} ranks, {result['commits']} commits -> {result['versions']} versions, "
        f"{result['deliveries']} deliveries in {result['wall_s']} s wall "
        f"({result['deliveries_per_s']:,}/s); idle memory "
        f"{result['idle_bytes_per_rank']} B/rank at {args.idle_ranks} ranks",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
