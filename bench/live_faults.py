"""Live leader crash and restart: how long the cluster is without a leader, and
what an unsynced crash loses, by checkpoint period.

On an 8-rank binary tree in two ``kvs-sim up`` processes (ranks 0-3 and 4-7, the
user's story of issue 9), a writer on rank 6 commits as fast as it can; the 0-3
process is SIGKILLed and started again with the same command.  Measured, per
round:

* ``down``: from the kill to the first commit answered again on rank 6 (process
  start-up, the epoch announcement, the commit round trip);
* ``lost``: commits answered before the kill that the restarted leader does not
  have (those after its last checkpoint), for each ``--periods`` value; with
  ``--sync`` every commit is SYNC and nothing may be lost.

Rounds alternate the periods (A, B, A, B, ...); medians are printed, the last
line is JSON.

    .venv/bin/python bench/live_faults.py [--rounds 3] [--periods 0.5,5]
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import statistics
import time
from typing import Any

from kvs_sim.core.flags import SYNC
from kvs_sim.handle import Handle
from kvs_sim.live import eventloop
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster

GROUPS = {"low": "0-3", "high": "4-7"}
UNKNOWN = {errno.ECONNRESET, errno.EHOSTUNREACH, errno.ETIMEDOUT}


async def _round(url: str, period: float, sync: bool, write_for: float) -> dict[str, Any]:
    extra = ["--checkpoint-period", str(period)]
    with UpCluster(url, 8, GROUPS, extra=extra) as up:
        async with LiveClient(up.url, cluster=up.name, timeout=30) as client:
            h6, h0 = Handle(LiveBackend(client), 6), Handle(LiveBackend(client), 0)
            acked: list[str] = []
            t_end = time.monotonic() + write_for
            n = 0
            while time.monotonic() < t_end:
                n += 1
                await h6.put(f"b.k{n}", n, flags=SYNC if sync else 0)
                acked.append(f"b.k{n}")
            await asyncio.to_thread(up.kill, "low")
            killed = time.monotonic()
            restart = asyncio.ensure_future(asyncio.to_thread(up.start_group, "low"))
            while True:  # the first commit answered again
                try:
                    await h6.put("b.after", 1)
                    break
                except OSError as e:
                    if e.errno not in UNKNOWN:
                        raise
                    await asyncio.sleep(0.01)
            down = time.monotonic() - killed
            await restart
            lost = 0
            for key in acked:
                try:
                    await h0.get(key)
                except FileNotFoundError:
                    lost += 1
    return {"period": period, "down_s": down, "acked": len(acked), "lost": lost}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--periods", default="0.5,5", help="checkpoint periods to compare")
    ap.add_argument("--write-for", type=float, default=2.0, help="seconds of commits")
    ap.add_argument("--sync", action="store_true", help="every commit is SYNC")
    args = ap.parse_args()
    periods = [float(p) for p in args.periods.split(",")]
    results: dict[float, list[dict[str, Any]]] = {p: [] for p in periods}
    with Broker() as broker:
        for i in range(args.rounds):
            for p in periods:
                r = eventloop.run(_round(broker.url, p, args.sync, args.write_for))
                results[p].append(r)
                print(f"round {i} period {p:g}: {r}", flush=True)
    out = {
        str(p): {
            "down_s_median": statistics.median(r["down_s"] for r in rs),
            "lost_median": statistics.median(r["lost"] for r in rs),
            "acked_median": statistics.median(r["acked"] for r in rs),
        }
        for p, rs in results.items()
    }
    print(json.dumps({"sync": args.sync, "rounds": args.rounds, "periods": out}))


if __name__ == "__main__":
    main()
