"""Causal hand-off: pass get_version() to the reader, not the commit's reported version.

A writer on rank 1 commits x = i and hands a number to a reader on the deepest
rank through a channel (recorded as a send and a recv, so the causal checker
knows that the reader's next read must see the writer's commit).  The reader
then reads x.  Flux's recipe for causal consistency is: the writer takes a
version that covers its commit, the reader waits for that version before
reading.  Which number the writer passes is the whole story:

* no-wait: the reader reads at once.  The setroot has not reached its rank yet,
  so it reads the old value: causal consistency is violated.
* reported: the writer passes the version its commit reported and the reader
  waits for it.  On Flux 0.88 a commit issued on a follower reports the version
  *before* its own write (one behind), so the reader waits one version short and
  still reads the old value: violated, by an off-by-one.
* get-version: the writer passes get_version() taken after the commit, which
  covers the write: causal consistency holds.
* documented: as "reported", but ranks behave as Flux's man page documents (the
  commit reports the version it produced): it holds.

Every variant claims read-your-writes, monotonic reads and writes, read validity
and convergence; only the last two also claim causal consistency, because only
they deliver it.  The report of the first two shows the violating hand-offs.
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
    "latency": "lognormal:60us,0.5",  # links slower than the calibrated 40 us: the race shows
    "rounds": 10,
    "gap": 2e-3,
}
PARAMS: dict[str, dict[str, Any]] = {
    "rounds": {"min": 1, "max": 100_000, "help": "hand-offs from the writer to the reader"},
    "gap": {"min": 0.0, "max": 10.0, "help": "seconds between two rounds"},
    "handoff": {
        "choices": ("none", "reported", "get_version"),
        "help": "what the writer passes to the reader (set by the variants)",
    },
}
MIN_SIZE = 4  # the reader must be deeper than the writer for the setroot to lag there
VARIANTS: dict[str, dict[str, Any]] = {
    "no-wait": {"handoff": "none"},
    "reported": {"handoff": "reported"},
    "get-version": {"handoff": "get_version", "claims": (*CLAIMS, "causal")},
    "documented": {
        "handoff": "reported",
        "commit_response": "documented",
        "claims": (*CLAIMS, "causal"),
    },
}
PASSES = {
    "none": "nothing to wait for: the reader reads at once",
    "reported": "the version the commit reported",
    "get_version": "get_version() taken after the commit",
}


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    rounds, gap, how = args.params["rounds"], args.params["gap"], args.params["handoff"]
    overlay = cluster.overlay
    writer_rank = 1
    reader_rank = max(range(cluster.size), key=lambda r: (overlay.depth[r], r))
    writer = cluster.handle(writer_rank, name="writer")
    reader = cluster.handle(reader_rank, name="reader")
    channel = cluster.channel()
    args.expect(1 + rounds * 6)

    first = await cluster.handle(0, name="setup").put("x", 0)
    await reader.wait_version(first["seq"])
    seen: list[int] = []

    async def read() -> None:
        for _ in range(rounds):
            passed = await channel.recv(reader)
            if how != "none":
                await reader.wait_version(passed)
            seen.append(await reader.get("x"))

    task = cluster.spawn(read())
    for i in range(1, rounds + 1):
        reply = await writer.put("x", i)
        if how == "get_version":
            passed = await writer.get_version()
        elif how == "reported":
            passed = reply["seq"]
        else:
            passed = i
        channel.send(writer, passed)
        assert await writer.get("x") == i  # read-your-writes (the checker checks it too)
        await cluster.sleep(gap)
    await task

    commits = [
        o for o in cluster.recorder.history().ops if o.process == "writer" and o.op == "commit"
    ]
    last = commits[-1]
    versions = f"{last.version} / {last.reported_version}"
    fresh = sum(1 for i, got in enumerate(seen, start=1) if got == i)
    return {
        "findings": {
            "writer rank (depth)": f"{writer_rank} ({overlay.depth[writer_rank]})",
            "reader rank (depth)": f"{reader_rank} ({overlay.depth[reader_rank]})",
            "the writer passes": PASSES[how],
            "last commit: produced / reported version": versions,
            "reader saw the value just written": f"{fresh} of {rounds}",
        },
        "focus": {"version": last.version, "ranks": overlay.path(writer_rank, reader_rank)},
    }
