"""Speed and memory of the linearizability checker on generated register histories.

    python bench/checkers.py            # the full table (about three minutes)
    python bench/checkers.py --quick    # 1k and 10k only

Each history has 8 processes issuing reads and writes (half each) over 100 keys
or one key; every operation gets a linearization point inside its interval and
the values follow those points, so the history is linearizable.  The stale
variant changes one read in the middle to return a value overwritten before the
read began.  Three kinds of history exercise the three methods:

* ``search``: values drawn from 5 per key, so writes repeat values and only the
  general search applies (Porcupine's and Knossos's case);
* ``zones``: every write unique (each read's writer is known);
* ``versions``: unique values plus the versions kvs-sim records (the witness).

Every check runs in its own subprocess (generation excluded from the time, clean
peak RSS), three times, interleaved; the table shows the median seconds and the
largest peak RSS.  One JSON line per case follows the table.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from kvs_sim.history import Header, History, Op

PROCESSES = 8
REPEATS = 3


def generate(n: int, keys: int, kind: str, stale: bool, seed: int = 1) -> History:
    """A linearizable history of ``n`` register ops (see the module docstring)."""
    rng = random.Random(seed)
    busy = [0.0] * PROCESSES
    t = 0.0
    points = []
    for i in range(n):
        p = rng.randrange(PROCESSES)
        inv = max(busy[p], t) + rng.random() * 1e-4
        lin = inv + rng.random() * 1e-4
        done = lin + rng.random() * 1e-4
        busy[p], t = done + 1e-6, inv
        f = "read" if rng.random() < 0.5 else "write"
        points.append((lin, i, p, f, inv, done, f"k{rng.randrange(keys)}"))
    points.sort()
    state: dict[str, tuple[Any, int]] = {}
    ops: list[Op] = []
    version = 0
    for _, i, p, f, inv, done, key in points:
        common = {"id": i, "process": f"p{p}", "rank": 0, "invoke": inv, "complete": done}
        if f == "write":
            version += 1
            value = rng.randrange(5) if kind == "search" else i
            state[key] = (value, version)
            ops.append(Op(op="commit", writes={key: value}, ok=True, **common))  # type: ignore[arg-type]
        else:
            value, _ = state.get(key, (None, 0))
            ok = value is not None
            ops.append(
                Op(op="get", key=key, value=value, ok=ok, error=None if ok else "ENOENT", **common)  # type: ignore[arg-type]
            )
        if kind == "versions":
            ops[-1] = _with_version(ops[-1], version)  # the root a read is served from
    ops.sort(key=lambda o: o.invoke)
    if stale:
        ops = _inject_stale(ops, kind)
    return History(Header(config={"generated": kind}), tuple(ops))


def _with_version(op: Op, version: int) -> Op:
    from dataclasses import replace

    return replace(op, version=version)


def _inject_stale(ops: list[Op], kind: str) -> list[Op]:
    """One read in the middle returns the value its key had before the last write
    that completed before the read began (and no write that could still come
    between wrote that value again)."""
    from bisect import bisect_left
    from dataclasses import replace

    writes: dict[str, list[Op]] = {}
    for o in ops:
        if o.op == "commit":
            writes.setdefault(next(iter(o.writes or {})), []).append(o)
    done = {k: sorted(ws, key=lambda w: w.complete or 0.0) for k, ws in writes.items()}
    ends = {k: [w.complete or 0.0 for w in ws] for k, ws in done.items()}
    for i in range(len(ops) // 2, len(ops)):
        r = ops[i]
        if r.op != "get" or r.key is None or not r.ok or r.key not in done:
            continue
        ws, es = done[r.key], ends[r.key]
        j = bisect_left(es, r.invoke) - 1  # the last write completed before the read
        if j < 1:
            continue
        new = ws[j]
        k = bisect_left(es, new.invoke) - 1  # a write completed before that one began
        if k < 0:
            continue
        old = ws[k]
        value = (old.writes or {})[r.key]
        # writes that may take effect after `new` and before the read ends
        maybe = [w for w in ws[k + 1 :] if w.invoke < (r.complete or 0.0)]
        if any((w.writes or {})[r.key] == value for w in maybe):
            continue
        ops[i] = replace(r, value=value, version=old.version if kind == "versions" else None)
        return ops
    raise SystemExit("no read to make stale")


def one(n: int, keys: int, kind: str, stale: bool, budget: float) -> dict[str, Any]:
    """Generate, then time one check (run in a subprocess)."""
    from kvs_sim.checks import check_keys

    history = generate(n, keys, kind, stale)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    verdicts = check_keys(history, budget)
    seconds = time.perf_counter() - t0
    held = [kv.outcome.held for kv in verdicts]
    verdict = "violated" if False in held else "unknown" if None in held else "held"
    methods = sorted({kv.outcome.method for kv in verdicts})
    return {
        "ops": n,
        "keys": keys,
        "kind": kind,
        "stale": stale,
        "verdict": verdict,
        "methods": methods,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_check_mib": rss_before / 1024,
    }


def _run_child(case: tuple[int, int, str, bool], budget: float) -> dict[str, Any]:
    n, keys, kind, stale = case
    args = [sys.executable, __file__, "--one", str(n), str(keys), kind, str(int(stale))]
    out = subprocess.run(
        [*args, "--budget", str(budget)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k operations only")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per key")
    parser.add_argument("--one", nargs=4, metavar=("N", "KEYS", "KIND", "STALE"), help="internal")
    args = parser.parse_args()
    if args.one:
        n, keys, kind, stale = args.one
        print(json.dumps(one(int(n), int(keys), kind, stale == "1", args.budget)))
        return
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 30_000, 100_000)
    cases = [
        (n, keys, kind, stale)
        for n in sizes
        for keys in (100, 1)
        for kind in ("search", "zones", "versions")
        for stale in (False, True)
    ]
    runs: dict[tuple[int, int, str, bool], list[dict[str, Any]]] = {c: [] for c in cases}
    for _ in range(REPEATS):  # interleaved: every case once, then again
        for c in cases:
            runs[c].append(_run_child(c, args.budget))
    print(
        f"{'ops':>7} {'keys':>4} {'history':>8} {'case':>13} {'verdict':>8} "
        f"{'method':>14} {'seconds':>8} {'peak MiB':>8}"
    )
    lines = []
    for rs in runs.values():
        med = statistics.median(r["seconds"] for r in rs)
        peak = max(r["peak_rss_mib"] for r in rs)
        r = rs[0]
        case = "one stale read" if r["stale"] else "linearizable"
        print(
            f"{r['ops']:>7} {r['keys']:>4} {r['kind']:>8} {case:>13} {r['verdict']:>8} "
            f"{'+'.join(r['methods']):>14} {med:>8.3f} {peak:>8.0f}"
        )
        lines.append(
            {
                **r,
                "seconds_median": med,
                "seconds_all": [x["seconds"] for x in rs],
                "peak_rss_mib": peak,
            }
        )
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
