"""Per-delivery cost as the cluster grows: 4,096 vs 65,536 ranks, interleaved.

The ``bench/peers.py`` shape (fanout 2, 100 us + 5 us per hop, every rank updating
its root) at two sizes, with the number of setroots scaled so that both sizes make
about the same number of deliveries (``--deliveries``, 6.5 M).  Three engines:
``kvs-sim`` (real ranks through the public API, 3 writers; the issue's figure),
``engine`` (the engine alone, toy ranks) and ``heapq`` (the bare loop), each in
rounds alternating the sizes, small, large, small, large... (``--rounds``).
Prints the median nanoseconds per delivery (CPU time, and wall time) and the
ratio large / small, the target being <= 1.2 for kvs-sim.  Also the idle memory
per rank of a cluster of ``--idle-ranks`` (262,144; the target < 1 KiB).

``--setroots N`` runs N setroots at both sizes instead (the same work per rank,
16 times the deliveries at the large size): with lazy delivery to idle subtrees
most of kvs-sim's cost is per rank, not per delivery, so the default shape (31
setroots per rank at 65,536, 488 at 4,096) charges the large size more per
delivery.

    python bench/scale.py [--small 4096] [--large 65536] [--rounds 3] [--idle-ranks 262144]
                          [--setroots N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import peers

from kvs_sim.sim.cluster import Cluster


def idle_bytes_per_rank(ranks: int) -> float:
    """tracemalloc bytes per rank of a fresh cluster (overlay, engine, ranks)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    c = Cluster(size=ranks, fanout=2, seed=0)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert c.size == ranks
    return used / ranks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--small", type=int, default=4096)
    ap.add_argument("--large", type=int, default=65536)
    ap.add_argument("--deliveries", type=float, default=6.5e6)
    ap.add_argument("--setroots", type=int, default=0, help="the same at both sizes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engines", default="kvs-sim,engine,heapq")
    ap.add_argument("--idle-ranks", type=int, default=262_144)
    args = ap.parse_args(argv)
    engines = args.engines.split(",")
    cpu: dict[tuple[str, int], list[float]] = {}
    wall: dict[tuple[str, int], list[float]] = {}
    for rnd in range(args.rounds):
        for name in engines:
            for size in (args.small, args.large):
                setroots = args.setroots or max(1, round(args.deliveries / size))
                d, w, c = peers.timed(name, size, 2, setroots)
                cpu.setdefault((name, size), []).append(c / d * 1e9)
                wall.setdefault((name, size), []).append(w / d * 1e9)
                print(
                    f"round {rnd + 1} {name:8} {size:>7} ranks {setroots:>5} setroots "
                    f"{c / d * 1e9:7.0f} ns/delivery cpu {w / d * 1e9:7.0f} wall",
                    file=sys.stderr,
                )
    print(
        f"{'engine':8} {args.small:>9} {args.large:>9} {'ratio':>6}"
        "   (median ns/delivery, cpu; wall)"
    )
    for name in engines:
        s, big = (statistics.median(cpu[(name, n)]) for n in (args.small, args.large))
        sw, bw = (statistics.median(wall[(name, n)]) for n in (args.small, args.large))
        print(f"{name:8} {s:9.0f} {big:9.0f} {big / s:6.2f}   wall {sw:.0f} {bw:.0f} {bw / sw:.2f}")
    if args.idle_ranks:
        print(
            f"idle memory: {idle_bytes_per_rank(args.idle_ranks):.0f} B/rank"
            f" at {args.idle_ranks:,} ranks"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
