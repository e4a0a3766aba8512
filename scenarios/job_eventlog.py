"""Job state as an RFC 18 eventlog, read eventually-consistently from far ranks.

A scheduler on rank 1 runs jobs through ``submit -> alloc -> start -> finish``.
Each state change is one commit holding two writes: an event *appended* to the
job's eventlog ``jobs.J.eventlog`` (``{timestamp, name, context}``, timestamps in
virtual time) and the state itself as a plain value ``jobs.J.state``.  The
scheduler reads the state back after each commit (read-your-writes).

Monitors on the deepest ranks poll the eventlogs, as ``flux kvs eventlog get``
would, and the job states.  What they see is Flux's eventual consistency: a far
rank learns of an event only when the setroot carrying it arrives, so its view
lags by a depth-dependent fraction of a millisecond; but an eventlog is only
ever appended to, in one transaction with the state, so every view a monitor
gets is a *prefix* of the final log, in order, never a reordering or a gap, and
the state it reads is always the name of the last event in the log it saw at
that version.  The findings report the lag per depth and the prefix check.
"""

from __future__ import annotations

import statistics
from typing import Any

from kvs_sim.core import eventlog as rfc18
from kvs_sim.core.txn import Txn

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {"size": 15, "fanout": 2, "seed": 1, "jobs": 3, "gap": 5e-3}
PARAMS: dict[str, dict[str, Any]] = {
    "jobs": {"min": 1, "max": 10_000, "help": "jobs the scheduler runs, one after the other"},
    "gap": {"min": 0.0, "max": 10.0, "help": "seconds between two state changes"},
}
MIN_SIZE = 4
STATES = ("submit", "alloc", "start", "finish")
POLL = 2e-5  # a monitor's polling interval (seconds)


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    jobs, gap = args.params["jobs"], args.params["gap"]
    overlay = cluster.overlay
    deepest = max(overlay.depth[r] for r in range(cluster.size))
    far = sorted(r for r in range(cluster.size) if overlay.depth[r] == deepest)[:2]
    scheduler = cluster.handle(1, name="scheduler")
    monitors = {r: cluster.handle(r, name=f"monitor@{r}") for r in far}
    args.expect(jobs * len(STATES) * (2 + 2 * len(far)))
    appended: dict[tuple[int, str], float] = {}  # (job, state) -> when it was committed
    first_seen: dict[tuple[int, int, str], float] = {}  # (rank, job, state) -> when seen
    not_prefix: list[str] = []

    async def monitor(rank: int) -> None:
        h = monitors[rank]
        last: dict[int, list[str]] = {}
        job = 0  # jobs run one after the other: follow the one not finished yet
        while job < jobs:
            try:
                raw = await h.lookup(f"jobs.{job}.eventlog")
            except FileNotFoundError:
                raw = b""
            names = [e["name"] for e in rfc18.decode(raw)]
            for name in names:
                first_seen.setdefault((rank, job, name), h.backend.now())
            seen = last.get(job, [])
            if names != list(STATES[: len(names)]) or names[: len(seen)] != seen:
                not_prefix.append(f"rank {rank} job {job}: {names} after {seen}")
            if len(names) > len(seen):
                state = await h.get(f"jobs.{job}.state")  # recorded: a checked read
                if state not in names:
                    not_prefix.append(f"rank {rank} job {job}: state {state!r} not in {names}")
            last[job] = names
            if len(names) == len(STATES):
                job += 1
            else:
                await cluster.sleep(POLL)

    tasks = [cluster.spawn(monitor(r)) for r in far]
    for job in range(jobs):
        for state in STATES:
            now = scheduler.backend.now()
            txn = Txn()
            event = rfc18.make_event(now, state, {"job": job, "rank": 1})
            txn.append(f"jobs.{job}.eventlog", rfc18.encode_event(event))
            txn.put(f"jobs.{job}.state", state)
            await scheduler.commit(txn)
            appended[(job, state)] = scheduler.backend.now()
            assert await scheduler.get(f"jobs.{job}.state") == state  # read-your-writes
            await cluster.sleep(gap)
    for task in tasks:
        await task

    lags = {r: [first_seen[(r, j, s)] - appended[(j, s)] for (j, s) in appended] for r in far}
    findings: dict[str, Any] = {
        "scheduler rank (depth)": f"1 ({overlay.depth[1]})",
        "monitor ranks (depth)": ", ".join(f"{r} ({overlay.depth[r]})" for r in far),
        "events appended": len(appended),
        "every view a prefix of the final log, state in it": "yes" if not not_prefix else "NO",
    }
    for r, values in lags.items():
        findings[f"rank {r}: lag to see an event, median / max (ms)"] = (
            f"{statistics.median(values) * 1e3:.3f} / {max(values) * 1e3:.3f}"
        )
    if not_prefix:
        findings["views that were not a prefix"] = "; ".join(not_prefix[:5])
    return {"findings": findings, "focus": {"ranks": overlay.path(1, far[0])}}
