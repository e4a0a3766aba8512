"""Linearizable on one rank, only sequentially consistent across ranks; a hand-off's off-by-one.

What Flux promises sits between two stronger models, and this scenario shows
where, with the linearizability and sequential-consistency checkers:

* one-rank: a writer and two readers share one follower rank.  Every operation
  is served from that rank's root, which only moves forward and which a commit's
  answer waits for, so the history is **linearizable** (the checker proves it with
  the recorded versions as the witness, key by key).
* many-ranks: the same writer, readers on the deepest ranks, nobody waits for a
  version.  A reader invoked after the writer's commit returned can still be
  served the older root: **not linearizable**, and the checker names the read and
  the commit it missed.  The history is still **sequentially consistent**: the
  leader's version order is a total order that every process's own order agrees
  with, and the checker shows it.
* off-by-one: the writer hands the version its commit *reported* to a reader on a
  deep rank, which waits for it and reads.  On Flux 0.88 a follower's commit
  reports the version before its own write, so the reader waits one version short
  and reads the old value: a **causal** violation (and still sequential).
* documented: the same hand-off with commits reporting the version they produced
  (Flux's documented response): causal consistency holds.

Each variant claims exactly what it shows to hold; the report shows every
verdict, so the broken ones are visible next to the held ones.
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "sequential")
DEFAULTS: dict[str, Any] = {
    "size": 15,
    "fanout": 2,
    "seed": 3,
    "latency": "lognormal:100us,0.4",
    "commits": 30,
    "gap": 1e-3,
    "poll": 60e-6,
}
PARAMS: dict[str, dict[str, Any]] = {
    "commits": {"min": 1, "max": 10_000, "help": "commits by the writer"},
    "gap": {"min": 0.0, "max": 1.0, "help": "seconds the writer pauses between commits"},
    "poll": {"min": 1e-6, "max": 1.0, "help": "seconds between two reads of one reader"},
    "story": {
        "choices": ("one-rank", "many-ranks", "handoff"),
        "help": "where the readers are and whether the writer hands off (set by the variants)",
    },
}
MIN_SIZE = 4
VARIANTS: dict[str, dict[str, Any]] = {
    "one-rank": {"story": "one-rank", "claims": (*CLAIMS, "linearizable")},
    "many-ranks": {"story": "many-ranks"},
    "off-by-one": {"story": "handoff"},
    "documented": {
        "story": "handoff",
        "commit_response": "documented",
        "claims": (*CLAIMS, "causal"),
    },
}


def _deepest(overlay: Any, n: int) -> list[int]:
    return sorted(range(overlay.size), key=lambda r: (-overlay.depth[r], -r))[:n]


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    story, commits = args.params["story"], args.params["commits"]
    gap, poll = args.params["gap"], args.params["poll"]
    overlay = cluster.overlay
    writer_rank = 1
    if story == "one-rank":
        reader_ranks = [writer_rank, writer_rank]
    else:
        reader_ranks = _deepest(overlay, 1 if story == "handoff" else 2)
    writer = cluster.handle(writer_rank, name="writer")
    readers = [cluster.handle(r, name=f"reader{i}") for i, r in enumerate(reader_ranks)]
    args.expect(commits * (4 + 8 * len(readers)))
    first = await cluster.handle(0, name="setup").put("x", 0)
    for h in readers:
        await h.wait_version(first["seq"])

    if story == "handoff":
        channel = cluster.channel()
        reader = readers[0]

        async def follow() -> None:
            for _ in range(commits):
                passed = await channel.recv(reader)
                await reader.wait_version(passed)
                await reader.get("x")

        task = cluster.spawn(follow())
        for i in range(1, commits + 1):
            reply = await writer.put("x", i)
            channel.send(writer, reply["seq"])
            await cluster.sleep(gap)
        await task
    else:
        done = False

        async def poll_x(h: Any) -> None:
            while not done:
                await h.get("x")
                await cluster.sleep(poll)

        tasks = [cluster.spawn(poll_x(h)) for h in readers]
        for i in range(1, commits + 1):
            await writer.put("x", i)
            await writer.get("x")
            await cluster.sleep(gap)
        done = True
        for t in tasks:
            await t
    ops = cluster.recorder.history().ops
    reads = [o for o in ops if o.op == "get" and o.process != "writer"]
    return {
        "findings": {
            "writer rank": writer_rank,
            "reader ranks (depth)": ", ".join(f"{r} ({overlay.depth[r]})" for r in reader_ranks),
            "reads by the readers": len(reads),
        },
        "focus": {"ranks": overlay.path(writer_rank, reader_ranks[-1])},
    }
