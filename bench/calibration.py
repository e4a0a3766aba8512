"""Calibration: the experiments behind real Flux figures, run in the simulator.

Usage::

    python bench/calibration.py            # table: simulated vs real, with the ratio
    python bench/calibration.py --json     # one JSON object per row

Each row of ``bench/data/flux_figures.json`` (figures measured on a real Flux
instance, with their provenance) has an experiment here that does what the
real measurement did, on a simulated cluster with the default model (the
service times of :class:`kvs_sim.rank.config.ServiceTimes`, the default link
latency), in virtual time: so every number is deterministic and the test
``tests/sim/test_calibration.py`` pins the headline rows.  The default model is
meant to be within +-30% of every row; ``docs/model.md`` says where each model
parameter comes from.

Theory of operation
-------------------
One function per experiment, ``(cluster kwargs) -> value in the row's unit``.
Sequential experiments time N operations issued back to back by one client
and report the mean; throughput experiments keep the stated number of
operations in flight and report completions per second; lags are measured the
way a user would: from the moment the writer's commit returned to the moment
the follower's ``wait_version`` (issued then) or first ``get`` returned.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvs_sim.sim.cluster import Cluster

DATA = Path(__file__).parent / "data" / "flux_figures.json"
N = 200
TOLERANCE = 0.30

FLAT, BINARY = 32, 2  # size 8: a 32-ary tree is flat (Flux's default fanout)


def sequential_commit(size: int, fanout: int, rank: int, **kw: Any) -> float:
    """Mean ms of a put+commit of one key, back to back, from ``rank``."""
    c = Cluster(size, fanout, **kw)
    h = c.handle(rank)
    c.wait(h.put("warm", 0))
    t0 = c.now
    for i in range(N):
        c.wait(h.put("k", i))
    return 1e3 * (c.now - t0) / N


def commit_into_big_directory(entries: int = 2000, **kw: Any) -> float:
    """ms of one commit of a new key into a directory already holding ``entries``."""
    c = Cluster(1, 2, **kw)
    h = c.handle(0)
    step = 200
    for lo in range(0, entries, step):
        ops = [_put(f"d.k{i}", i) for i in range(lo, min(entries, lo + step))]
        c.wait(h.commit(ops))
    times = []
    for j in range(5):
        t0 = c.now
        c.wait(h.put(f"d.new{j}", j))
        times.append(c.now - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def sequential_lookup(**kw: Any) -> float:
    """Mean ms of a cached lookup, back to back, on rank 0."""
    c = Cluster(1, 2, **kw)
    h = c.handle(0)
    c.wait(h.put("k", 1))
    c.wait(h.get("k"))
    t0 = c.now
    for _ in range(N):
        c.wait(h.get("k"))
    return 1e3 * (c.now - t0) / N


def lookups_in_flight(inflight: int = 64, rounds: int = 20, **kw: Any) -> float:
    """Lookups per second with ``inflight`` outstanding at any time."""
    c = Cluster(1, 2, **kw)
    h = c.handle(0)
    c.wait(h.put("k", 1))
    c.wait(h.get("k"))

    async def reader() -> None:
        for _ in range(rounds):
            await h.get("k")

    t0 = c.now
    tasks = [c.spawn(reader()) for _ in range(inflight)]
    for t in tasks:
        c.wait(t)
    return inflight * rounds / (c.now - t0)


def concurrent_writers(size: int, fanout: int, writers: int = 8, **kw: Any) -> tuple[float, float]:
    """(commits per second, commits per version) with ``writers`` clients each
    committing one key back to back (one writer per rank when size >= writers)."""
    c = Cluster(size, fanout, record=True, **kw)
    handles = [c.handle(i % size, name=f"w{i}") for i in range(writers)]
    per = N // 4

    async def write(h: Any) -> None:
        for i in range(per):
            await h.put("shared", i)

    t0 = c.now
    tasks = [c.spawn(write(h)) for h in handles]
    for t in tasks:
        c.wait(t)
    elapsed = c.now - t0
    assert c.recorder is not None
    history = c.recorder.history()
    versions = {o.version for o in history.ops if o.op == "commit" and o.ok}
    return writers * per / elapsed, writers * per / len(versions)


def setroot_lag(size: int, fanout: int, **kw: Any) -> float:
    """Mean ms from a rank-0 commit returning to the deepest follower's
    ``wait_version`` (issued then) returning."""
    c = Cluster(size, fanout, **kw)
    writer, follower = c.handle(0), c.handle(size - 1)
    c.wait(follower.get_version())
    lags = []
    for i in range(N // 4):
        resp = c.wait(writer.put("k", i))
        t0 = c.now
        c.wait(follower.wait_version(resp["seq"]))
        lags.append(c.now - t0)
        c.run(until=c.now + 2e-3)
    return 1e3 * sum(lags) / len(lags)


def first_read(size: int, fanout: int, **kw: Any) -> float:
    """Mean ms of the deepest follower's first read of a value just committed on
    rank 0 (it waits for the version, then faults the new objects in)."""
    c = Cluster(size, fanout, **kw)
    writer, follower = c.handle(0), c.handle(size - 1)
    c.wait(follower.get_version())
    times = []
    for i in range(N // 4):
        resp = c.wait(writer.put(f"dir{i}.sub.key", i))
        t0 = c.now
        c.wait(follower.wait_version(resp["seq"]))
        c.wait(follower.get(f"dir{i}.sub.key"))
        times.append(c.now - t0)
        c.run(until=c.now + 2e-3)
    return 1e3 * sum(times) / len(times)


def _put(key: str, value: Any) -> dict[str, Any]:
    from kvs_sim.core.txn import Txn

    txn = Txn()
    txn.put(key, value)
    return txn.ops[0]


def experiments() -> dict[str, Callable[..., float]]:
    """Row id -> the experiment reproducing it (keyword args go to Cluster)."""
    return {
        "commit_rank0_size1": lambda **kw: sequential_commit(1, FLAT, 0, **kw),
        "commit_rank0_flat": lambda **kw: sequential_commit(8, FLAT, 0, **kw),
        "commit_rank0_binary": lambda **kw: sequential_commit(8, BINARY, 0, **kw),
        "commit_deepest_flat": lambda **kw: sequential_commit(8, FLAT, 7, **kw),
        "commit_deepest_binary": lambda **kw: sequential_commit(8, BINARY, 7, **kw),
        "commit_2000_entries": commit_into_big_directory,
        "lookup_sequential": sequential_lookup,
        "lookup_64_in_flight": lookups_in_flight,
        "concurrent_8_size1": lambda **kw: concurrent_writers(1, FLAT, **kw)[0],
        "concurrent_8_flat": lambda **kw: concurrent_writers(8, FLAT, **kw)[0],
        "concurrent_8_binary": lambda **kw: concurrent_writers(8, BINARY, **kw)[0],
        "setroot_lag_flat": lambda **kw: setroot_lag(8, FLAT, **kw),
        "setroot_lag_binary": lambda **kw: setroot_lag(8, BINARY, **kw),
        "first_read_flat": lambda **kw: first_read(8, FLAT, **kw),
        "first_read_binary": lambda **kw: first_read(8, BINARY, **kw),
    }


def figures() -> list[dict[str, Any]]:
    """The real figures, with their provenance (bench/data/flux_figures.json)."""
    return json.loads(DATA.read_text())["figures"]


def calibrate(**kw: Any) -> list[dict[str, Any]]:
    """Every row: the real figure, the simulated one and their ratio."""
    exps = experiments()
    rows = []
    for fig in figures():
        sim = exps[fig["id"]](**kw)
        ratio = sim / fig["value"]
        within = abs(ratio - 1.0) <= TOLERANCE
        rows.append({**fig, "simulated": sim, "ratio": ratio, "within": within})
    return rows


def merge_ratios(**kw: Any) -> dict[str, float]:
    """Commits per version of the 8-writer experiments (no real figure to match)."""
    setups = (("size 1", 1, FLAT), ("flat", 8, FLAT), ("binary", 8, BINARY))
    return {tree: concurrent_writers(size, fanout, **kw)[1] for tree, size, fanout in setups}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    args = p.parse_args(argv)
    rows = calibrate()
    if args.json:
        for r in rows:
            print(json.dumps(r))
        print(json.dumps({"merge_ratio": merge_ratios()}))
        return 0
    print(f"{'experiment':<62} {'size':>4} {'tree':>6} {'real':>9} {'sim':>9} {'ratio':>6}")
    for r in rows:
        mark = "" if r["within"] else "  <-- outside +-30%"
        print(f"{r['what']:<62} {r['size']:>4} {r['tree']:>6} {r['value']:>9.4g} "
              f"{r['simulated']:>9.4g} {r['ratio']:>6.2f} {r['unit']}{mark}")  # fmt: skip
    ratios = merge_ratios()
    shown = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
    print(f"commits per version, 8 writers of one key: {shown} (no real figure)")
    bad = [r["id"] for r in rows if not r["within"]]
    print(f"{len(rows) - len(bad)}/{len(rows)} rows within +-{TOLERANCE:.0%}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
