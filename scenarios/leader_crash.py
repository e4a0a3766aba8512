"""The data-loss window of a leader crash: with and without SYNC, by checkpoint period.

Writers on followers commit steadily; at ``crash_at`` the leader (rank 0) crashes
and restarts ``down`` seconds later from its backing store's last checkpoint, in
a new epoch.  Every follower takes the restarted leader's root even though its
sequence is lower, so nobody stays on a root the leader lacks.  What the crash
lost is exactly what was acknowledged but not checkpointed: the crash record in
the history lists the versions and the commits, and the findings count them.

* ``no-checkpoint``: no SYNC, no periodic checkpoint: everything since the start
  is lost (Flux checkpoints only on SYNC, periodically, and at shutdown);
* ``period-10ms`` / ``period-50ms``: periodic checkpoints bound the window;
* ``sync``: every commit is SYNC: checkpointed before it is answered, so none is
  ever lost, at the price of commit latency.

While the leader is down, commits fail at once with EHOSTUNREACH: their outcome
is recorded as indeterminate.  Claims hold for every variant because the
checkers judge each leader epoch on its own (a loss is a finding, listed, not a
broken session guarantee) and read-your-writes holds from the first commit after
the restart on every rank.
"""

from __future__ import annotations

from typing import Any

CLAIMS = (
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "read-validity",
    "convergence",
)
DEFAULTS: dict[str, Any] = {
    "size": 15,
    "fanout": 2,
    "seed": 1,
    "writers": 3,
    "commits": 60,
    "gap": 0.002,
    "crash_at": 0.08,
    "down": 0.02,
    "sync": False,
    "checkpoint_period": 0.0,
}
PARAMS: dict[str, dict[str, Any]] = {
    "writers": {"min": 1, "max": 1000, "help": "writer processes, each on its own follower"},
    "commits": {"min": 1, "max": 100_000, "help": "commits per writer"},
    "gap": {"min": 0.0, "help": "seconds between a writer's commits"},
    "crash_at": {"min": 0.0, "help": "seconds after the start the leader crashes"},
    "down": {"min": 0.001, "help": "seconds the leader stays down"},
    "sync": {"help": "every commit is FLUX_KVS_SYNC"},
}
VARIANTS = {
    "no-checkpoint": {},
    "period-10ms": {"checkpoint_period": 0.01},
    "period-50ms": {"checkpoint_period": 0.05},
    "sync": {"sync": True},
}
MIN_SIZE = 2


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    from kvs_sim.core.flags import SYNC
    from kvs_sim.nemesis import Crash

    p = args.params
    flags = SYNC if p["sync"] else 0
    writers = [
        cluster.handle(1 + i % (cluster.size - 1), name=f"writer{i}") for i in range(p["writers"])
    ]
    args.expect(p["writers"] * p["commits"] * 2 + 2)
    start = cluster.now  # 0 in a simulation; a live cluster's clock ran while starting
    cluster.call_later(p["crash_at"], cluster.inject, Crash(rank=0), p["down"])
    acked: list[tuple[str, int, bool]] = []
    failed = 0
    after_restart_ryw = 0

    async def write(i: int, h: Any) -> None:
        nonlocal failed, after_restart_ryw
        for n in range(p["commits"]):
            key, t0 = f"w{i}.k{n}", cluster.now - start
            try:
                await h.put(key, n, flags=flags)
            except OSError:
                failed += 1
            else:
                acked.append((key, n, bool(flags)))
                if t0 > p["crash_at"] + p["down"]:
                    assert await h.get(key) == n  # read-your-writes, new epoch
                    after_restart_ryw += 1
            await cluster.sleep(p["gap"])

    tasks = [cluster.spawn(write(i, h)) for i, h in enumerate(writers)]
    for t in tasks:
        await t
    await cluster.sleep(0.01)
    crash = next(n for n in cluster.recorder.history().nemeses if n.name == "crash")
    lost_ops = set(crash.detail.get("lost_ops", []))
    hist = cluster.recorder.history()
    lost_keys = {next(iter(hist.op(i).writes)) for i in lost_ops}
    reader = cluster.handle(cluster.size - 1, name="auditor")
    survived = 0
    for key, value, synced in acked:
        try:
            got = await reader.get(key)
        except OSError:
            got = None
        if got == value:
            survived += 1
        else:
            assert key in lost_keys, f"{key} is gone but not listed as lost"
            assert not synced, f"SYNC commit {key} was lost"
    lost_window = 0.0
    if crash.detail.get("lost_versions"):
        created = hist.created("primary")
        first_lost = min(crash.detail["lost_versions"])
        lost_window = round(1e3 * (crash.start - created.get(first_lost, crash.start)), 3)
    return {
        "findings": {
            "commits acknowledged": len(acked),
            "acknowledged commits lost in the crash": len(lost_ops),
            "acknowledged commits that survived": survived,
            "versions lost": len(crash.detail.get("lost_versions", [])),
            "resumed from version (checkpoint)": crash.detail.get("checkpoint"),
            "loss window: first lost version to the crash (ms)": lost_window,
            "commits failed while the leader was down (indeterminate)": failed,
            "read-your-writes checks after the restart": after_restart_ryw,
        },
        "focus": {
            "ranks": [0, 1, 2],
            "window": (crash.start - 0.005, (crash.end or crash.start) + 0.005),
            "title": "Leader crash and restart: the new epoch's root replaces every rank's",
        },
    }
