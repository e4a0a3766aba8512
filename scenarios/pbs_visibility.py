"""t-visibility by depth: how soon after a commit returns does a read elsewhere see it?

A writer on rank 0 (or, with ``--set writer=leaf``, on the deepest rank)
commits now and then; readers, one per depth on a path far from the writer,
poll the key.  Every rank's root records say when it applied
each version, so the history gives, for each depth, the probability that a
read issued t seconds after a commit returned sees it (t-visibility) and the
probability that a read is at most k versions behind rank 0 (k-staleness):
the numbers a designer uses to pick a fanout, event routing and forwarding
cost.  One run is one sample; ``kvs-sim sweep`` over seeds makes the curves
(see docs/research.md):

    kvs-sim sweep scenarios/pbs_visibility.py --grid fanout=2,4,8,16,32,64 --seeds 20

Claims: read-your-writes (the writer reads back), monotonic reads, read
validity and convergence; nothing about how soon others see a write, which is
what is being measured.  (A commit on a follower returns only once the setroot
has come down to the committer, so by then most ranks have it: with
``writer=leaf`` the curves start near 1.)
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {
    "size": 255,
    "fanout": 2,
    "seed": 0,
    "latency": "lognormal:40us,0.5",
    "commits": 20,
    "gap": 1e-3,
    "poll": 100e-6,
    "writer": "leader",
}
PARAMS: dict[str, dict[str, Any]] = {
    "commits": {"min": 1, "max": 100_000, "help": "commits by the writer"},
    "gap": {"min": 0.0, "max": 10.0, "help": "seconds between two commits"},
    "poll": {"min": 1e-6, "max": 10.0, "help": "seconds between two reads of one reader"},
    "writer": {
        "choices": ("leader", "leaf"),
        "help": "where the writer is: rank 0, or the last (deepest) rank",
    },
}
MIN_SIZE = 3


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    commits, gap, poll = (args.params[k] for k in ("commits", "gap", "poll"))
    overlay = cluster.overlay
    writer_rank = 0 if args.params["writer"] == "leader" else cluster.size - 1
    others = [r for r in range(1, cluster.size) if r != writer_rank]
    far = max(others or [0], key=lambda r: (overlay.depth[r], -r))
    path = list(reversed(overlay.path(far, 0)))
    readers = [cluster.handle(r, name=f"reader@depth{overlay.depth[r]}") for r in path[1:]]
    writer = cluster.handle(writer_rank, name="writer")
    args.expect(2 * commits + len(readers) * int(commits * (gap + 1e-3) / (poll + 1e-4)))
    first = await cluster.handle(0, name="setup").put("x", -1)
    for h in readers:
        await h.wait_version(first["seq"])
    done = False

    async def write() -> None:
        nonlocal done
        for i in range(commits):
            await writer.put("x", i)
            assert await writer.get("x") == i
            await cluster.sleep(gap)
        done = True

    async def read(h: Any) -> None:
        while not done:
            await h.get("x")
            await cluster.sleep(poll)

    tasks = [cluster.spawn(read(h)) for h in readers]
    await cluster.spawn(write())
    for t in tasks:
        await t
    await cluster.sleep(5e-3)  # let the last setroot reach every rank

    from kvs_sim.metrics import t_visibility

    rows = t_visibility(cluster.recorder.history(), (0.0, 1e-4, 2e-4, 5e-4, 1e-3))
    at = {(r["depth"], r["t"]): r["p"] for r in rows}
    deepest = max(d for d, _ in at)
    return {
        "findings": {
            "tree height": overlay.height,
            "P(visible) at the deepest level, 0.2 ms after the commit": at[(deepest, 2e-4)],
            "P(visible) at the deepest level, 0.5 ms after the commit": at[(deepest, 5e-4)],
        },
        "focus": {"ranks": list(reversed(path))},
    }
