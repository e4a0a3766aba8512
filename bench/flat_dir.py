"""One flat directory: commits per wall second and memory as it grows.

An 8-rank cluster; a client on rank 0 fills directory ``dir`` with new keys
(``dir.key<i>``, one value each) until it holds ``--entries`` entries, then makes
``--measure`` more commits of one new key each, sequentially (each waits for the
previous one).  The filling commits carry ``--batch`` keys each (1: every entry
is its own commit, the shape of issue 12; 1,000 gets 100,000 entries in 100
commits).  Every 50th commit, a follower on rank 7 reads the newest key (it faults
the directory in from the leader: what a rank can ask for must be served; these
reads are not timed), and the whole run ends with lookups at the first root taken
after filling, on the leader and the follower (a snapshot: an old root reference
must still resolve).

Reports, as one JSON line: ``commits_per_s`` over the measured commits (wall time,
and CPU time, steadier on a shared machine), ``fill_commits_per_s`` over the
filling, ``peak_rss_mib`` of the whole run (this process; run one size per process),
and the virtual time per measured commit (the *modelled* cost, which must not
change: Flux rewrites the whole directory on every commit).

    python bench/flat_dir.py --entries 5000                     # issue 12: >= 1,000/s, < 300 MiB
    python bench/flat_dir.py --entries 100000 --batch 1000      # >= 100/s, < 2 GiB
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from kvs_sim.core.txn import Txn
from kvs_sim.sim.cluster import Cluster


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=1, help="keys per filling commit")
    ap.add_argument("--measure", type=int, default=500, help="single-key commits timed at size")
    args = ap.parse_args(argv)
    c = Cluster(size=8, fanout=2, seed=1)
    h, far = c.handle(0), c.handle(7)
    count = 0
    commits = 0
    clock = [0.0, 0.0]  # wall, cpu spent in commits

    def timed_commit(txn: Txn) -> int:
        w0, c0 = time.perf_counter(), time.process_time()
        c.wait(h.commit(txn))
        clock[0] += time.perf_counter() - w0
        clock[1] += time.process_time() - c0
        return c.version(0)  # the leader's version now (exact, whatever commit reports)

    def far_read(version: int, key: str) -> object:
        # Eventual consistency: the follower may not have the new root yet; hand
        # the version over first (wait_version), as a causal reader must.
        c.wait(far.wait_version(version))
        return c.wait(far.get(key))

    while count < args.entries:
        txn = Txn()
        for _ in range(min(args.batch, args.entries - count)):
            txn.put(f"dir.key{count}", count)
            count += 1
        version = timed_commit(txn)
        commits += 1
        if commits % 50 == 0:
            assert far_read(version, f"dir.key{count - 1}") == count - 1
    fill_wall, fill_cpu = clock
    snapshot = c.wait(h.getroot())["rootref"]
    snap_entries = count
    v0 = c.now
    clock[:] = [0.0, 0.0]
    for i in range(args.measure):
        txn = Txn()
        txn.put(f"dir.key{count}", count)
        version = timed_commit(txn)
        count += 1
        if i % 50 == 49:
            assert far_read(version, f"dir.key{count - 1}") == count - 1
    wall, cpu = clock
    virtual = (c.now - v0) / args.measure  # (follower reads included: compare like with like)
    for rank in (h, far):  # the snapshot, on the leader and on a follower
        listing = c.wait(rank.lookup("dir", want="dir", rootref=snapshot))
        assert len(listing) == snap_entries, (len(listing), snap_entries)
    result = {
        "bench": "flat_dir",
        "entries": args.entries,
        "batch": args.batch,
        "measured_commits": args.measure,
        "commits_per_s": round(args.measure / wall, 1),
        "commits_per_cpu_s": round(args.measure / cpu, 1),
        "fill_commits": commits,
        "fill_commits_per_s": round(commits / fill_wall, 1),
        "fill_commits_per_cpu_s": round(commits / fill_cpu, 1),
        "virtual_ms_per_commit": round(virtual * 1e3, 4),
        "final_version": c.version(0),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))
    print(
        f"{args.entries} entries: {result['commits_per_s']} commits/s wall "
        f"({result['commits_per_cpu_s']}/s cpu), peak {result['peak_rss_mib']} MiB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
