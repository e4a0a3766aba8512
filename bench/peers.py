"""kvs-sim against its peers: one propagation shape in four engines, interleaved.

The shape (issue 12): ``--ranks`` ranks (1,024) on a k-ary tree (fanout 2), rank 0
publishes ``--setroots`` new roots (10,000), each travels down the tree at 100 us
per hop plus 5 us of routing per forwarding rank, and every rank updates its root.

* ``heapq``: a bare Python loop over a ``heapq`` of ``(time, seq, rank, seq_no)``
  entries, one per delivery; a delivery stores the root and pushes one entry per
  child.  The floor for an event loop written in Python.
* ``engine``: the kvs-sim engine alone (``bench/engine_raw.py``'s toy ranks: a
  follower compares the sequence and stores the root).
* ``simpy``: SimPy (``pip install 'kvs-sim[bench]'``), timeout events with a
  callback, one event per *forwarding* rank (the cheapest way to say it in SimPy);
  skipped with a note when SimPy is not installed.
* ``kvs-sim``: real ranks through the public API: a ``Cluster`` in which 3
  writer processes on 3 ranks ``put`` (put + commit) new values until the leader
  has published ``--setroots`` versions.  Every delivery there is real KVS work
  (commit relays, the leader's hash tree, setroot handling with waiters and
  commit completion); it is counted by the engine like the others' deliveries.

Rounds run the engines in turn, A, B, C, D, A, B, ... (``--rounds``), so a load
spike on the (shared) machine hits every engine alike; the figures are medians over
rounds of deliveries per second, by wall time and by process CPU time, and the
ratios are taken between medians.  ``spread`` is (max - min) / median over rounds:
how noisy the machine was.

    python bench/peers.py [--ranks 1024] [--setroots 10000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import engine_raw  # the engine-alone shape lives there

from kvs_sim.sim.cluster import Cluster

HOP = 100e-6
ROUTE = 5e-6
INTERVAL = 50e-6  # between rank 0's setroots, as in engine_raw


def children_of(ranks: int, fanout: int) -> list[list[int]]:
    return [list(range(fanout * r + 1, min(ranks, fanout * r + fanout + 1))) for r in range(ranks)]


def run_heapq(ranks: int, fanout: int, setroots: int) -> int:
    kids = children_of(ranks, fanout)
    root = [0] * ranks
    heap: list[tuple[float, int, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    for i in range(setroots):
        push(heap, (i * INTERVAL, seq, 0, i + 1))
        seq += 1
    deliveries = 0
    step = HOP + ROUTE
    while heap:
        t, _, r, v = pop(heap)
        deliveries += 1
        if v > root[r]:  # noqa: PLR1730 (faster than max() here)
            root[r] = v
        ta = t + (step if r else HOP)
        for c in kids[r]:
            push(heap, (ta, seq, c, v))
            seq += 1
    assert all(v == setroots for v in root)
    return deliveries


def run_simpy(ranks: int, fanout: int, setroots: int) -> int:
    import simpy

    env = simpy.Environment()
    kids = children_of(ranks, fanout)
    root = [0] * ranks
    count = [0]

    def reach(r: int, v: int) -> Callable[[Any], None]:
        # The event reached every child of r: each takes it, forwarders forward.
        def cb(_: Any) -> None:
            count[0] += len(kids[r])
            for c in kids[r]:
                if v > root[c]:  # noqa: PLR1730 (faster than max() here)
                    root[c] = v
                if kids[c]:
                    env.timeout(HOP + ROUTE).callbacks.append(reach(c, v))

        return cb

    def publish(v: int) -> Callable[[Any], None]:
        def cb(_: Any) -> None:
            count[0] += 1  # the leader's own delivery, as in the others
            root[0] = v
            env.timeout(HOP).callbacks.append(reach(0, v))

        return cb

    for i in range(setroots):
        env.timeout(i * INTERVAL).callbacks.append(publish(i + 1))
    env.run()
    assert all(v == setroots for v in root)
    return count[0]


def run_engine(ranks: int, fanout: int, setroots: int) -> int:
    engine = engine_raw.build(ranks, fanout, setroots, INTERVAL, 0.0)
    engine.run()
    return engine.deliveries


def build_cluster(ranks: int, fanout: int, setroots: int) -> Cluster:
    c = Cluster(size=ranks, fanout=fanout, seed=1, latency=f"const:{HOP * 1e6:g}us")
    leader = c.ranks[0].roots["primary"]
    writers = (ranks // 3, 2 * ranks // 3, ranks - 1)

    async def writer(w: int, rank: int) -> None:
        h = c.handle(rank)
        i = 0
        while leader.seq < setroots:
            await h.put(f"w{w}.k{i % 64}", i)
            i += 1

    for w, rank in enumerate(writers):
        c.spawn(writer(w, rank))
    return c


ENGINES: dict[str, Callable[[int, int, int], int]] = {
    "heapq": run_heapq,
    "engine": run_engine,
    "simpy": run_simpy,
}


def timed(name: str, ranks: int, fanout: int, setroots: int) -> tuple[int, float, float]:
    """(deliveries, wall s, cpu s) of one run; building a cluster is not timed."""
    gc.collect()
    if name == "kvs-sim":
        c = build_cluster(ranks, fanout, setroots)
        w0, c0 = time.perf_counter(), time.process_time()
        c.run()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        assert c.converged() and c.version(0) >= setroots
        return c.engine.deliveries, wall, cpu
    fn = ENGINES[name]
    w0, c0 = time.perf_counter(), time.process_time()
    deliveries = fn(ranks, fanout, setroots)
    return deliveries, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ranks", type=int, default=1024)
    ap.add_argument("--fanout", type=int, default=2)
    ap.add_argument("--setroots", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    args = ap.parse_args(argv)
    names = ["heapq", "engine", "simpy", "kvs-sim"]
    try:
        import simpy  # noqa: F401
    except ImportError:
        names.remove("simpy")
        print("simpy is not installed (pip install 'kvs-sim[bench]'): skipping it", file=sys.stderr)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(args.rounds):
        for name in names:
            d, w, c = timed(name, args.ranks, args.fanout, args.setroots)
            wall[name].append(d / w)
            cpu[name].append(d / c)
            print(
                f"round {rnd + 1} {name:8} {d:>10,} deliveries {d / w / 1e6:6.2f} M/s wall "
                f"{d / c / 1e6:6.2f} M/s cpu",
                file=sys.stderr,
            )
    med = {n: statistics.median(wall[n]) for n in names}
    medc = {n: statistics.median(cpu[n]) for n in names}
    spread = {n: (max(wall[n]) - min(wall[n])) / med[n] for n in names}
    print(
        f"{args.ranks} ranks, fanout {args.fanout}, {args.setroots} setroots, "
        f"{args.rounds} interleaved rounds (medians)"
    )
    print(f"{'engine':10} {'M deliveries/s wall':>20} {'cpu':>8} {'spread':>8}")
    for n in names:
        print(f"{n:10} {med[n] / 1e6:20.2f} {medc[n] / 1e6:8.2f} {spread[n]:8.0%}")
    ratios: dict[str, float] = {}
    pairs = [("engine", "heapq", 0.9)]
    if "simpy" in names:
        pairs.insert(0, ("kvs-sim", "simpy", 1.0))
    for a, b, target in pairs:
        r, rc = med[a] / med[b], medc[a] / medc[b]
        ratios[f"{a}/{b}"] = round(r, 3)
        ratios[f"{a}/{b} cpu"] = round(rc, 3)
        verdict = "met" if min(r, rc) >= target else "NOT met"
        print(f"{a}/{b}: {r:.2f}x wall, {rc:.2f}x cpu (target >= {target}x: {verdict})")
    if args.json:
        print(
            json.dumps(
                {
                    "bench": "peers",
                    "ranks": args.ranks,
                    "setroots": args.setroots,
                    "rounds": args.rounds,
                    "deliveries_per_s": {n: round(med[n]) for n in names},
                    "deliveries_per_cpu_s": {n: round(medc[n]) for n in names},
                    "spread": {n: round(spread[n], 3) for n in names},
                    "ratios": ratios,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
