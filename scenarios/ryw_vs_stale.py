"""Read-your-writes on a deep rank while a far rank reads stale values, then converges.

A writer on a deep rank (one level above the leaves) commits x = 1, 2, ... and
reads x back right after each commit.  Read-your-writes holds: a follower answers
a commit only once the setroot event naming the transaction has reached it, so
the writer's next read is served from a root that contains its write.

Meanwhile one reader per depth polls x along the path from rank 0 down to the
rank farthest from the writer (in another subtree of rank 0).  Those readers are
only eventually consistent: once rank 0 has created a version, the setroot takes
about a tenth of a millisecond per hop to reach them, and until it arrives they
keep serving the older value.  The deeper the rank, the longer it stays stale;
rank 0 never is.  The far leaf is one hop deeper than the writer, so some of its
reads return the old value even after the writer's commit has returned.  When
the writer stops, every rank reaches the final version.

Claims: read-your-writes, monotonic reads and writes, read validity and
convergence.  Causal consistency is not the point here: no process hands
anything to another.  Links have a random (lognormal) latency, so staleness
varies from commit to commit.
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
    "size": 63,
    "fanout": 2,
    "seed": 1,
    "latency": "lognormal:100us,0.4",
    "commits": 20,  # writes by the writer
    "gap": 0.5e-3,  # s the writer pauses between commits
    "poll": 40e-6,  # s between two reads of one reader
}
PARAMS: dict[str, dict[str, Any]] = {
    "commits": {"min": 1, "max": 100_000, "help": "commits by the writer"},
    "gap": {"min": 0.0, "max": 10.0, "help": "seconds the writer pauses between commits"},
    "poll": {"min": 1e-6, "max": 10.0, "help": "seconds between two reads of one reader"},
}
MIN_SIZE = 2


def far_rank(overlay: Any, writer: int) -> int:
    """The deepest rank outside the writer's subtree of rank 0 (else any other rank)."""

    def top(r: int) -> int:
        path = overlay.path(r, 0)
        return path[-2] if len(path) > 1 else 0

    others = [r for r in range(1, overlay.size) if top(r) != top(writer)]
    others = others or [r for r in range(overlay.size) if r != writer]
    return max(others, key=lambda r: (overlay.depth[r], r))


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    commits, gap, poll = args.params["commits"], args.params["gap"], args.params["poll"]
    overlay = cluster.overlay
    # The writer one level above the leaves, the far reader on a leaf elsewhere.
    deep = max(1, overlay.height - 1) if cluster.size > 2 else overlay.height
    writer_rank = max(r for r in range(cluster.size) if overlay.depth[r] == deep)
    far = far_rank(overlay, writer_rank)
    path = list(reversed(overlay.path(far, 0)))  # rank 0 ... far, one rank per depth
    readers = [cluster.handle(r, name=f"reader@depth{overlay.depth[r]}") for r in path]
    writer = cluster.handle(writer_rank, name="writer")
    args.expect(2 + 2 * commits + len(path) * int(commits * (gap + 1.5e-3) / (poll + 1e-4)))

    first = await cluster.handle(0, name="setup").put("x", 0)
    for h in readers:
        await h.wait_version(first["seq"])
    done = False
    own_reads: list[tuple[float, int]] = []  # (when the writer saw i, i)
    committed: list[tuple[float, int]] = []  # (when the writer's commit of i returned, i)

    async def write() -> None:
        nonlocal done
        for i in range(1, commits + 1):
            await writer.put("x", i)
            committed.append((cluster.now, i))
            got = await writer.get("x")
            own_reads.append((cluster.now, got))
            await cluster.sleep(gap)
        done = True

    async def read(h: Any, log: list[tuple[float, float, int]]) -> None:
        while not done:
            start = cluster.now
            value = await h.get("x")
            log.append((start, cluster.now, value))
            await cluster.sleep(poll)

    logs: list[list[tuple[float, float, int]]] = [[] for _ in readers]
    tasks = [cluster.spawn(read(h, log)) for h, log in zip(readers, logs, strict=True)]
    await cluster.spawn(write())
    for t in tasks:
        await t

    # Findings, from the recorded history: which reads were served from a root
    # older than rank 0's at the moment they were invoked.
    history = cluster.recorder.history()
    created = sorted(history.created("primary").items())
    rows = []
    for h in readers:
        reads = [o for o in history.ops if o.process == h.name and o.op == "get" and o.ok]
        ages = [_age(o.invoke, o.version, created) for o in reads]
        stale = [a for a in ages if a > 0]
        rows.append(
            {
                "depth": overlay.depth[h.rank],
                "rank": h.rank,
                "reads": len(reads),
                "stale reads": len(stale),
                "stale %": round(100 * len(stale) / len(reads), 1) if reads else 0.0,
                "max staleness (ms)": round(1e3 * max(stale, default=0.0), 3),
            }
        )
    # Reads on the far rank, invoked after the writer's commit of i had returned,
    # that still returned an older value: the write is done, but not visible there.
    behind = sum(
        1 for start, _, value in logs[-1] if any(t <= start and value < i for t, i in committed)
    )
    fresh = sum(1 for i, (_, got) in enumerate(own_reads, start=1) if got == i)
    last = cluster.version(0)
    return {
        "findings": {
            "writer rank (depth)": f"{writer_rank} ({overlay.depth[writer_rank]})",
            "far rank (depth)": f"{far} ({overlay.depth[far]})",
            "writer read its own write": f"{fresh} of {commits}",
            "far reads after a commit returned, still older": f"{behind} of {len(logs[-1])}",
            "stale reads by depth": rows,
        },
        "focus": {"version": last, "ranks": overlay.path(writer_rank, far)},
    }


def _age(invoke: float, version: int | None, created: list[tuple[int, float]]) -> float:
    """How long before ``invoke`` a version newer than ``version`` existed at rank 0."""
    newer = [t for v, t in created if version is not None and v > version and t <= invoke]
    return invoke - min(newer) if newer else 0.0
