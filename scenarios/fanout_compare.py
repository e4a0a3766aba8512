"""Fanout 32 versus 2: a flat tree spreads new roots sooner, a deep tree spreads the load.

The same ranks on two overlays: Flux's default 32-ary tree and a binary tree.
Writers on the deepest ranks commit now and then, and one reader per depth
polls a key along the path to the deepest rank.  In the 32-ary tree every rank
is one or two hops from rank 0, so a setroot reaches everyone within a few
tenths of a millisecond and reads are rarely stale; in the binary tree the
deepest ranks are log2(size) hops down and lag several times longer.

The price of the flat tree is paid by rank 0: it sends every event to 32
children itself, and it answers each child's commits and cache faults directly,
while in the binary tree forwarding is shared by every inner rank.  The findings
compare the lag at each depth, the messages per link (mean and busiest) and the
messages rank 0 sends.  Each forwarding rank spends 2 us per copy it sends
(``forward_cost``, as the central broker does in ``--events broker``), so rank 0's
32 copies leave one after the other; ``--forward-cost 0us`` shows the ideal.

Claims (both variants): read-your-writes, monotonic reads and writes, read
validity and convergence.  The overlay changes how long "eventually" takes,
not what holds.
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
    "size": 128,
    "seed": 1,
    "writers": 4,
    "commits": 15,
    "gap": 1e-3,  # s between two commits of one writer
    "poll": 100e-6,  # s between two reads of one reader
    "forward_cost": "2us",  # per event copy a forwarding rank sends
}
PARAMS: dict[str, dict[str, Any]] = {
    "writers": {"min": 1, "max": 10_000, "help": "writers on the deepest ranks"},
    "commits": {"min": 1, "max": 100_000, "help": "commits per writer"},
    "gap": {"min": 0.0, "max": 10.0, "help": "seconds between two commits of one writer"},
    "poll": {"min": 1e-6, "max": 10.0, "help": "seconds between two reads of one reader"},
}
MIN_SIZE = 3
VARIANTS: dict[str, dict[str, Any]] = {"fanout-32": {"fanout": 32}, "fanout-2": {"fanout": 2}}


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    writers, commits, gap, poll = (args.params[k] for k in ("writers", "commits", "gap", "poll"))
    overlay = cluster.overlay
    deep = sorted(range(cluster.size), key=lambda r: (-overlay.depth[r], -r))
    path = list(reversed(overlay.path(deep[0], 0)))  # rank 0 ... the deepest rank
    readers = [cluster.handle(r, name=f"reader@depth{overlay.depth[r]}") for r in path]
    handles = [cluster.handle(deep[i % len(deep)], name=f"w{i}") for i in range(writers)]
    duration = commits * (gap + 2e-3)
    args.expect(writers * commits * 2 + len(readers) * int(duration / (poll + 1e-4)))

    first = await cluster.handle(0, name="setup").put("x", "start")
    for h in readers:
        await h.wait_version(first["seq"])
    running = len(handles)

    async def write(i: int, h: Any) -> None:
        nonlocal running
        for n in range(commits):
            await h.put("x", f"w{i}.{n}")
            await h.get("x")
            await cluster.sleep(gap)
        running -= 1

    async def read(h: Any) -> None:
        while running:
            await h.get("x")
            await cluster.sleep(poll)

    tasks = [cluster.spawn(write(i, h)) for i, h in enumerate(handles)]
    tasks += [cluster.spawn(read(h)) for h in readers]
    for t in tasks:
        await t

    from kvs_sim.metrics import propagation_latency

    history = cluster.recorder.history()
    lag = {row["depth"]: row for row in propagation_latency(history)["by_depth"]}
    created = sorted(history.created("primary").items())
    rows = []
    for h in readers[1:]:
        reads = [o for o in history.ops if o.process == h.name and o.op == "get" and o.ok]
        stale = sum(1 for o in reads if _newer_existed(o.invoke, o.version, created))
        d = overlay.depth[h.rank]
        rows.append(
            {
                "depth": d,
                "ranks at this depth": len(overlay.ranks_at_depth(d)),
                "setroot lag, mean (ms)": round(1e3 * lag[d]["mean"], 3) if d in lag else "-",
                "setroot lag, max (ms)": round(1e3 * lag[d]["max"], 3) if d in lag else "-",
                "stale reads %": round(100 * stale / len(reads), 1) if reads else "-",
            }
        )
    return {
        "findings": {
            "tree height": overlay.height,
            "children of rank 0": len(overlay.children[0]),
            "setroot lag to the deepest ranks, mean (ms)": rows[-1]["setroot lag, mean (ms)"],
            "stale reads on the deepest rank %": rows[-1]["stale reads %"],
            "lag and staleness by depth": rows,
        },
        "focus": {"ranks": [*overlay.path(deep[0], 0), overlay.children[0][-1]]},
    }


def _newer_existed(invoke: float, version: int | None, created: list[tuple[int, float]]) -> bool:
    return version is not None and any(v > version and t <= invoke for v, t in created)
