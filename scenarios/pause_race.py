"""The read-after-commit race on another rank, made deterministic by pausing setroot.

A writer on one rank commits ``x = 1`` and hands the version it got to a reader on
another rank (any channel outside the KVS).  Whether the reader then sees the
write depends on whether the setroot event reached its rank first: a race that
Flux's own tests make deterministic by pausing setroot delivery on the reader's
rank.  Here the reader's rank is paused for ``pause`` seconds before the commit:

* ``no-wait``: the reader reads at once and deterministically gets the old value
  (the race lost every time).  Read-your-writes holds for the writer, monotonic
  reads for the reader, and the cluster converges after the unpause; causal
  consistency is *not* claimed: the reader did not wait.
* ``wait-version``: the reader calls ``wait_version`` with the version passed
  (the commit's *produced* version, Flux's causal recipe) and blocks until the
  unpause, then reads the new value.  Causal consistency holds.
"""

from __future__ import annotations

from typing import Any

CLAIMS = ("read-your-writes", "monotonic-reads", "read-validity", "convergence")
DEFAULTS: dict[str, Any] = {"size": 15, "fanout": 2, "seed": 1, "pause": 0.02, "wait": False}
PARAMS: dict[str, dict[str, Any]] = {
    "pause": {"min": 0.001, "max": 10.0, "help": "seconds the reader's rank holds setroots"},
    "wait": {"help": "the reader waits for the version passed (wait_version)"},
}
VARIANTS = {
    "no-wait": {"wait": False},
    "wait-version": {
        "wait": True,
        "claims": ("read-your-writes", "monotonic-reads", "read-validity", "causal", "convergence"),
    },
}
MIN_SIZE = 3


async def scenario(cluster: Any, args: Any) -> dict[str, Any]:
    from kvs_sim.nemesis import Pause

    pause, wait = float(args.params["pause"]), bool(args.params["wait"])
    writer_rank, reader_rank = 1, cluster.size - 1
    args.expect(10)
    writer = cluster.handle(writer_rank, name="writer")
    reader = cluster.handle(reader_rank, name="reader")
    await writer.put("x", 0)
    await reader.wait_version(await writer.get_version())
    assert await reader.get("x") == 0  # warm: the reader's rank has x = 0
    ch = cluster.channel()
    cluster.inject(Pause(rank=reader_rank), pause)
    paused_at = cluster.now
    await writer.put("x", 1)
    assert await writer.get("x") == 1  # read-your-writes on the writer's rank
    produced = await writer.get_version()
    ch.send(writer, produced)
    version = await ch.recv(reader)
    t0 = cluster.now
    if wait:
        await reader.wait_version(version)
    seen = await reader.get("x")
    waited = cluster.now - t0
    await cluster.sleep(pause)
    after = await reader.get("x")
    return {
        "findings": {
            "reader read right after the hand-off": seen,
            "reader read after the unpause": after,
            "reader waited (ms)": round(1e3 * waited, 3),
            "pause left when the hand-off arrived (ms)": round(
                1e3 * max(0.0, paused_at + pause - t0), 3
            ),
            "stale read (the race lost)": seen != 1,
        },
        "focus": {
            "ranks": [writer_rank, 0, reader_rank],
            "window": (paused_at - 0.001, paused_at + pause + 0.002),
            "title": f"setroot paused on rank {reader_rank} for {pause * 1e3:g} ms: "
            + ("the reader waits for the version" if wait else "the reader reads stale"),
        },
    }
