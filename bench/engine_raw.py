"""Raw engine throughput: setroot propagation in tree mode, and idle memory.

Measures exactly the issue-3 target: ranks on a k-ary tree (default 1,024 ranks,
fanout 2); rank 0 publishes a ``SetRoot`` every ``--interval`` of virtual time and
each rank's handler does what a follower does with one (compare the sequence,
store the root, look for waiters in an empty dict).  Prints one JSON line:

    {"bench": "engine_raw", "deliveries_per_s": ..., "ranks": ..., "wall_s": ...,
     "peak_rss_mib": ..., "idle_bytes_per_rank": ..., ...}

``deliveries_per_s`` is the median of ``--repeat`` runs of the engine loop alone
(building the cluster is not timed); ``deliveries_per_cpu_s`` is the same over
process CPU time, steadier on a shared machine.  ``idle_bytes_per_rank`` is tracemalloc's count
for an overlay + engine + toy ranks of ``--idle-ranks`` ranks, after start().

    python bench/engine_raw.py [--ranks 1024] [--fanout 2] [--events 1000] [--work 0]
                               [--latency 100us | uniform:50us,150us ...]
    python bench/engine_raw.py --profile   # cProfile of one run, top entries to stderr
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from kvs_sim.overlay import Overlay
from kvs_sim.sim.engine import Engine
from kvs_sim.sim.latency import LinkModel


# Same shape as kvs_sim.rank.messages.SetRoot / Timer (frozen, slots, kw_only), kept
# local so this benchmark measures the engine alone and runs whatever state the rank
# package is in.
@dataclass(frozen=True, slots=True, kw_only=True)
class SetRoot:
    ns: str
    seq: int
    rootref: str
    names: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    owner: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    kind: str
    data: Any = None


_TICK = Timer(kind="tick")


class ToyFollower:
    """What a follower does with a setroot, and nothing else."""

    __slots__ = ("port", "rootref", "seq", "waiters", "work")

    def __init__(self, port: Any, work: float) -> None:
        self.port = port
        self.seq = 0
        self.rootref = ""
        self.waiters: dict[int, list[Any]] = {}
        self.work = work

    def handle(self, msg: Any) -> None:
        if msg.seq > self.seq:
            self.seq = msg.seq
            self.rootref = msg.rootref
            if self.waiters:
                self.waiters.pop(msg.seq, None)
        if self.work:
            self.port.work(self.work)


class ToyLeader:
    """Publishes ``count`` setroots, one every ``interval`` seconds."""

    __slots__ = ("count", "interval", "port", "seq")

    def __init__(self, port: Any, count: int, interval: float) -> None:
        self.port = port
        self.count = count
        self.interval = interval
        self.seq = 0

    def start(self) -> None:
        self.port.timer(0.0, _TICK)

    def handle(self, msg: Any) -> None:
        self.seq += 1
        self.port.publish(SetRoot(ns="primary", seq=self.seq, rootref=f"sha1-{self.seq:040x}"))
        if self.seq < self.count:
            self.port.timer(self.interval, _TICK)


def build(
    ranks: int, fanout: int, events: int, interval: float, work: float, *, latency: str = "100us"
) -> Engine:
    engine = Engine(
        Overlay.kary(ranks, fanout),
        links=LinkModel(latency),
        rng=random.Random(1),
    )
    toys: list[Any] = [ToyLeader(engine, events, interval)]
    toys += [ToyFollower(engine, work) for _ in range(1, ranks)]
    engine.attach(toys)
    engine.start()
    return engine


def one_run(args: argparse.Namespace) -> tuple[int, float, float]:
    engine = build(
        args.ranks, args.fanout, args.events, args.interval, args.work, latency=args.latency
    )
    gc.collect()
    t0 = time.perf_counter()
    c0 = time.process_time()
    engine.run()
    cpu = time.process_time() - c0
    wall = time.perf_counter() - t0
    expected = args.events * (args.ranks - 1) + args.events  # events + leader's timers
    assert engine.deliveries == expected, (engine.deliveries, expected)
    return engine.deliveries, wall, cpu


def idle_bytes_per_rank(ranks: int, fanout: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = build(ranks, fanout, 1, 1e-3, 0.0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del engine
    return (after - before) / ranks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ranks", type=int, default=1024)
    ap.add_argument("--fanout", type=int, default=2)
    ap.add_argument("--events", type=int, default=1000, help="setroots published")
    ap.add_argument("--interval", type=float, default=50e-6, help="seconds between setroots")
    ap.add_argument("--work", type=float, default=0.0, help="declared work per setroot")
    ap.add_argument("--latency", default="100us", help="per-hop latency spec")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--idle-ranks", type=int, default=16384)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    if args.profile:
        engine = build(
            args.ranks, args.fanout, args.events, args.interval, args.work, latency=args.latency
        )
        prof = cProfile.Profile()
        prof.runcall(engine.run)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(12)
        return
    runs = [one_run(args) for _ in range(args.repeat)]
    wall = statistics.median(w for _, w, _ in runs)
    cpu = statistics.median(c for _, _, c in runs)
    deliveries = runs[0][0]
    idle = idle_bytes_per_rank(args.idle_ranks, args.fanout)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "bench": "engine_raw",
                "deliveries_per_s": round(deliveries / wall),
                "ranks": args.ranks,
                "fanout": args.fanout,
                "deliveries": deliveries,
                "wall_s": round(wall, 4),
                "deliveries_per_cpu_s": round(deliveries / cpu),
                "work_s": args.work,
                "latency": args.latency,
                "peak_rss_mib": round(peak, 1),
                "idle_ranks": args.idle_ranks,
                "idle_bytes_per_rank": round(idle),
            }
        )
    )


if __name__ == "__main__":
    main()
