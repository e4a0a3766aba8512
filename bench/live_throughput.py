"""Live-mode throughput: real ranks over a private mosquitto, in real time.

Measures, on an 8-rank binary tree (0 -> 1,2; 1 -> 3,4; 2 -> 5,6; 3 -> 7):

* sequential put+commit per second issued on rank 0 and on the deepest rank (7),
  through the public API a script uses (``flux.kvs.put`` + ``flux.kvs.commit`` on
  a ``Flux(uri)`` handle: the issue's figures), and the same commits sent as
  bare ``LiveClient`` requests (``requests`` in the JSON: the API's own cost is
  the difference);
* the setroot lag to the deepest rank: a ``WaitVersionReq`` for the next version
  is parked on rank 7, then a commit is made on rank 0; the lag is the time
  between the two replies reaching the client (median and p99);
* where the time goes: the client <-> rank round trip of a request that needs no
  other rank (``GetRootReq``), the codec cost per message, and the number of
  MQTT messages one commit costs.

Ranks run in ``kvs-sim up`` processes (``--layout``: ``one`` process for all
ranks, ``two`` (0-3 and 4-7, the default), ``three``, or one ``per-rank``); the
client runs here.  The broker is the private, authenticated one of ``kvs-sim
broker`` (``--tls`` for TLS); the one-minute load average is reported with the
figures, since on a shared machine it moves them more than most changes do.
Targets (Flux on the same kind of machine): 1,600 commits/s from rank 0, 850/s
from depth 3, 0.4 ms setroot lag.  The last line printed is JSON.

    .venv/bin/python bench/live_throughput.py [--seconds 3] [--layout three]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

from kvs_sim.core.txn import Txn
from kvs_sim.flux import Flux, kvs
from kvs_sim.live import codec, eventloop
from kvs_sim.live import credentials as cr
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster
from kvs_sim.live.topics import parse_url
from kvs_sim.live.transport import Transport
from kvs_sim.rank import messages as m

SIZE, FANOUT, DEEPEST = 8, 2, 7
LAYOUTS = {
    "one": {"all": "0-7"},
    "two": {"low": "0-3", "high": "4-7"},
    "three": {"low": "0-2", "mid": "3-5", "leaves": "6-7"},
    "per-rank": {f"r{r}": str(r) for r in range(SIZE)},
}
TARGETS = {"commits_per_s_rank0": 1600, "commits_per_s_deepest": 850, "setroot_lag_ms": 0.4}


def _commit(key: str, value: int) -> Any:
    txn = Txn()
    txn.put(key, value)
    ops = txn.ops
    return lambda c: m.CommitReq(client=c, ns="primary", ops=ops)


def _wait_for(version: int) -> Callable[[int], m.WaitVersionReq]:
    return lambda c: m.WaitVersionReq(client=c, ns="primary", version=version)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


_TICK = os.sysconf("SC_CLK_TCK")
PIDS: dict[str, list[int]] = {}
"""The processes whose CPU time a measurement accounts: ranks, broker (set in main)."""


def _cpu() -> dict[str, float]:
    """Cumulative CPU seconds (user + system) of the rank processes, the broker and
    this client process."""
    out = {"client": sum(os.times()[:2])}
    for name, pids in PIDS.items():
        total = 0.0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
        out[name] = total
    return out


async def _sequential_commits(c: LiveClient, rank: int, seconds: float, limit: int) -> dict:
    """Commits one after the other; also the CPU milliseconds each costs, per
    process group: a load-independent view of the critical path's cost."""
    lat: list[float] = []
    cpu0 = _cpu()
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end and len(lat) < limit:
        t0 = time.perf_counter()
        reply = await c.request(_commit(f"bench.r{rank}", len(lat)), rank=rank)
        lat.append(time.perf_counter() - t0)
        if reply.errnum:
            raise RuntimeError(f"commit on rank {rank} failed: {reply.errmsg}")
    return _rates(lat, cpu0)


def _rates(lat: list[float], cpu0: dict[str, float]) -> dict:
    cpu1 = _cpu()
    return {
        "ops": len(lat),
        "cpu_ms_per_commit": {k: round((cpu1[k] - cpu0[k]) * 1e3 / len(lat), 3) for k in cpu1},
        "per_s": round(len(lat) / sum(lat), 1),
        "median_ms": round(statistics.median(lat) * 1e3, 3),
        "p99_ms": round(_pct(lat, 0.99) * 1e3, 3),
    }


def _flux_commits(uri: str, rank: int, seconds: float, limit: int) -> dict:
    """``flux.kvs.put`` + ``flux.kvs.commit`` one after the other through a
    ``Flux(uri)`` handle on ``rank``: the public, blocking API a script uses."""
    h = Flux(f"{uri}?rank={rank}")
    key = f"bench.api{rank}"
    for i in range(20):  # warm up
        kvs.put(h, key, i)
        kvs.commit(h)
    lat: list[float] = []
    cpu0 = _cpu()
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end and len(lat) < limit:
        t0 = time.perf_counter()
        kvs.put(h, key, len(lat))
        kvs.commit(h)
        lat.append(time.perf_counter() - t0)
    return _rates(lat, cpu0)


async def _round_trips(c: LiveClient, rank: int, n: int) -> float:
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        await c.request(lambda i: m.GetRootReq(client=i, ns="primary"), rank=rank)
        lat.append(time.perf_counter() - t0)
    return round(statistics.median(lat) * 1e3, 3)


async def _setroot_lag(c: LiveClient, seconds: float, limit: int) -> dict:
    backend = LiveBackend(c)
    lags: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end and len(lags) < limit:
        root = await c.request(lambda i: m.GetRootReq(client=i, ns="primary"), rank=0)
        want = root.value["seq"] + 1
        await c.request(lambda i: m.GetRootReq(client=i, ns="primary"), rank=DEEPEST)
        waited: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def on_reply(reply: m.Reply, fut: asyncio.Future[float] = waited) -> None:
            if not fut.done():
                fut.set_result(time.perf_counter())

        backend.request(DEEPEST, _wait_for(want), on_reply)
        await asyncio.sleep(0.002)  # let the wait reach rank 7 and park
        await c.request(_commit("bench.lag", len(lags)), rank=0)
        t_commit = time.perf_counter()
        t_wait = await asyncio.wait_for(waited, 5)
        lags.append(t_wait - t_commit)
    return {
        "samples": len(lags),
        "median_ms": round(statistics.median(lags) * 1e3, 3),
        "p99_ms": round(_pct(lags, 0.99) * 1e3, 3),
    }


async def _publishes_per_commit(c: LiveClient, url: str, cluster: str, rank: int) -> float:
    """MQTT publishes on the cluster's topics per commit issued on ``rank``."""
    seen = 0

    def count(_inc: Any) -> None:
        nonlocal seen
        seen += 1

    login, ca_file = cr.login(parse_url(url), cluster, cr.OWNER_UID)  # the owner may read all
    spy = Transport(
        login,
        ca_file=ca_file,
        client_id=f"kvs-sim-bench-spy-{rank}",
        subscriptions=[f"kvs-sim/{cluster}/#"],
        on_message=count,
        persistent=False,
    )
    await spy.start()
    await asyncio.sleep(0.2)
    seen, n = 0, 50
    for i in range(n):
        await c.request(_commit(f"bench.count{rank}", i), rank=rank)
    await asyncio.sleep(0.3)
    await spy.close()
    return round(seen / n, 1)


def _codec_cost_us() -> float:
    txn = Txn()
    txn.put("bench.key", 12345)
    msgs = [
        m.RelayCommit(origin=7, name="7.1", ns="primary", ops=txn.ops),
        m.SetRoot(ns="primary", seq=42, rootref="sha1-" + "a" * 40, names=("7.1",), keys=("k",)),
        m.Reply(client=3, value={"seq": 42, "rootref": "sha1-" + "a" * 40}, seq=42),
    ]
    n = 2000

    def once() -> None:
        for msg in msgs:
            codec.decode_envelope(codec.encode_envelope(1, 7, msg, "x:1"))

    return round(timeit.timeit(once, number=n) / (n * len(msgs)) * 1e6, 1)


async def _measure(url: str, cluster: str, seconds: float, limit: int) -> dict:
    async with LiveClient(url, cluster=cluster, timeout=10) as c:
        for r in (0, DEEPEST):  # warm up: faults, first connections
            for i in range(20):
                await c.request(_commit(f"bench.r{r}", i), rank=r)
        return {
            "rtt_ms_rank0": await _round_trips(c, 0, 300),
            "rtt_ms_deepest": await _round_trips(c, DEEPEST, 300),
            "rank0": await _sequential_commits(c, 0, seconds, limit),
            "deepest": await _sequential_commits(c, DEEPEST, seconds, limit),
            "setroot_lag": await _setroot_lag(c, seconds, limit),
            "publishes": {
                "rank0": await _publishes_per_commit(c, url, cluster, 0),
                "deepest": await _publishes_per_commit(c, url, cluster, DEEPEST),
            },
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement (default 3)")
    ap.add_argument("--limit", type=int, default=20000, help="max operations per measurement")
    ap.add_argument("--layout", choices=sorted(LAYOUTS), default="two")
    ap.add_argument("--events", choices=("tree", "broker"), default="tree")
    ap.add_argument(
        "--local",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ranks of one process skip the broker between them (default; as kvs-sim up)",
    )
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1, help="QoS between ranks")
    ap.add_argument("--tls", action="store_true", help="a TLS broker (mqtts://)")
    args = ap.parse_args(argv)
    extra = ["--events", args.events, "--qos", str(args.qos)]
    extra.append("--local" if args.local else "--no-local")
    extra.append("--no-statedir")
    load_before = os.getloadavg()[0]
    with (
        Broker(tls=args.tls) as broker,
        UpCluster(broker.url, SIZE, LAYOUTS[args.layout], extra=extra) as up,
    ):
        procs = {f"ranks {name}": [p.pid] for name, p in up.procs.items()}
        PIDS.update(ranks=[p.pid for p in up.procs.values()], broker=[broker.pid or 0])
        if len(procs) > 1:
            PIDS.update(procs)  # each rank process too ("ranks low": ranks 0-3)
        res = eventloop.run(_measure(broker.url, up.name, args.seconds, args.limit))
        uri = f"{broker.url.rstrip('/')}/{up.name}"
        api = {
            "rank0": _flux_commits(uri, 0, args.seconds, args.limit),
            "deepest": _flux_commits(uri, DEEPEST, args.seconds, args.limit),
        }
    result = {
        "bench": "live_throughput",
        "size": SIZE,
        "fanout": FANOUT,
        "layout": args.layout,
        "events": args.events,
        "local": args.local,
        "qos": args.qos,
        "tls": args.tls,
        "event_loop": eventloop.loop_name(),
        "load1": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "commits_per_s_rank0": api["rank0"]["per_s"],
        "commits_per_s_deepest": api["deepest"]["per_s"],
        "setroot_lag_ms": {k: res["setroot_lag"][k] for k in ("median_ms", "p99_ms")},
        "commit_ms_rank0": {k: api["rank0"][k] for k in ("median_ms", "p99_ms")},
        "commit_ms_deepest": {k: api["deepest"][k] for k in ("median_ms", "p99_ms")},
        "cpu_ms_per_commit": {r: api[r]["cpu_ms_per_commit"] for r in ("rank0", "deepest")},
        "requests": {  # the same commits as LiveClient requests, without flux.kvs
            r: {k: res[r][k] for k in ("per_s", "median_ms", "cpu_ms_per_commit")}
            for r in ("rank0", "deepest")
        },
        "rtt_ms": {"rank0": res["rtt_ms_rank0"], "deepest": res["rtt_ms_deepest"]},
        "codec_us_per_message": _codec_cost_us(),
        "mqtt_publishes_per_commit": res["publishes"],
        "targets": TARGETS,
    }
    print(
        f"rank 0: {result['commits_per_s_rank0']:.0f} commits/s, deepest: "
        f"{result['commits_per_s_deepest']:.0f}/s, setroot lag median "
        f"{result['setroot_lag_ms']['median_ms']} ms, client RTT {result['rtt_ms']}",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
