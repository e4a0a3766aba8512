"""The teaching demos: each a short story on a small simulated cluster.

Each demo is a function ``(narrator, seed) -> dict`` that builds its own
:class:`~kvs_sim.sim.cluster.Cluster`, tells what happens step by step through
the :class:`~kvs_sim.demo._narrate.Narrator`, and returns its findings as plain
data (the tests check them, so a demo that stopped showing its point fails).
Everything runs in virtual time from the seed: the same demo tells the same story
every time.  :data:`DEMOS` maps a name to ``(one-line title, function)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from kvs_sim.core.flags import NO_MERGE
from kvs_sim.demo._narrate import Narrator
from kvs_sim.sim.cluster import Cluster

Demo = Callable[[Narrator, int], dict[str, Any]]


def ryw(n: Narrator, seed: int) -> dict[str, Any]:
    """Read-your-writes holds on the writer's rank; a far rank reads stale, then catches up."""
    n.title(
        "ryw",
        "Flux promises read-your-writes on the rank that committed — and only there.\n"
        "A writer near the root commits; a reader three hops down reads at once.",
    )
    c = Cluster(size=15, fanout=2, seed=seed, latency="const:100us")
    writer, far = c.handle(1, name="writer"), c.handle(14, name="far reader")
    c.wait(c.handle(0).put("x", "old"))
    c.wait(far.wait_version(c.version(0)))
    c.wait(far.get("x"))  # warm: the far rank's cache holds the root it serves
    n.step("Every rank starts on the same root, where x = 'old'.")
    n.tree(c, marks={1: "writer", 14: "far reader"})
    n.pause()

    n.step(
        "The writer on rank 1 commits x = 'new'.",
        "Rank 1 relays the commit to rank 0, which applies it and publishes a setroot "
        "event; rank 1 answers its client only once that event has reached it.",
    )
    reply = c.wait(writer.put("x", "new"))
    n.say(f"commit returned at t = {1e3 * c.now:.2f} ms, version {c.version(1)} on rank 1")
    n.tree(c, marks={1: "writer", 14: "far reader"})
    stale_ranks = [r for r in range(c.size) if c.version(r) < c.version(0)]
    n.say(f"{len(stale_ranks)} ranks have not seen the event yet (yellow).")
    n.pause()

    n.step("Both read x right away, at the same moment.")
    mine_f, theirs_f = writer.get("x"), far.get("x")
    mine, theirs = c.wait(mine_f), c.wait(theirs_f)
    n.result(f"writer on rank 1 reads {mine!r}: read-your-writes", good=mine == "new")
    n.result(
        f"far reader on rank 14 reads {theirs!r}: only eventually consistent",
        good=theirs == "new",
    )
    n.pause()

    n.step(
        "The far reader waits for the writer's version, then reads.",
        "wait_version(v) returns once the rank's root has reached v: the causal hand-off.",
    )
    version = c.wait(writer.get_version())
    c.wait(far.wait_version(version))
    after = c.wait(far.get("x"))
    n.result(f"after wait_version({version}) rank 14 reads {after!r}", good=after == "new")
    c.run(duration=0.01)
    n.tree(c, marks={1: "writer", 14: "far reader"})
    return {
        "writer read": mine,
        "far read": theirs,
        "far read after wait_version": after,
        "stale ranks when the commit returned": len(stale_ranks),
        "reported version": reply["seq"],
    }


def handoff(n: Narrator, seed: int) -> dict[str, Any]:
    """Which version to hand over: the commit's own (Flux 0.88 is off by one) or get_version()."""
    n.title(
        "handoff",
        "A writer tells a reader on another rank 'my write is in version v'.\n"
        "Which v is safe to pass? On Flux 0.88 a commit on a follower reports the\n"
        "version *before* its own.",
    )
    c = Cluster(size=15, fanout=2, seed=seed, latency="const:100us")
    writer, reader = c.handle(1, name="writer"), c.handle(14, name="reader")
    marks = {1: "writer", 14: "reader"}
    c.wait(c.handle(0).put("x", "old"))
    c.wait(reader.wait_version(c.version(0)))
    c.wait(reader.get("x"))  # warm: the reader's cache holds the root it serves
    n.step("The writer on rank 1 commits x = 'new'.")
    reply = c.wait(writer.put("x", "new"))
    produced = c.version(1)
    n.say(f"the commit reports version {reply['seq']}; rank 1 is now at version {produced}")
    n.pause()

    n.step(
        "Hand-off 1: the reader waits for the version the commit reported, then reads.",
        "It is what the man page suggests, and it is one short on a follower.",
    )
    c.wait(reader.wait_version(reply["seq"]))
    first = c.wait(reader.get("x"))
    n.result(f"rank 14 reads {first!r} after wait_version({reply['seq']})", good=first == "new")
    n.tree(c, marks=marks)
    n.pause()

    n.step("Hand-off 2: the writer passes get_version(), taken after its commit.")
    version = c.wait(writer.get_version())
    c.wait(reader.wait_version(version))
    second = c.wait(reader.get("x"))
    n.result(f"rank 14 reads {second!r} after wait_version({version})", good=second == "new")
    return {
        "reported": reply["seq"],
        "produced": produced,
        "read after reported": first,
        "read after get_version": second,
    }


def merging(n: Narrator, seed: int) -> dict[str, Any]:
    """Concurrent commits merge into fewer versions; a watcher misses values; NO_MERGE cures it."""
    n.title(
        "merging",
        "Rank 0 applies every queued commit as one batch when it is idle, so many\n"
        "commits can become one version. A watcher sees versions, not commits.",
    )
    found: dict[str, Any] = {}
    for label, flags in (("merged (default)", 0), ("NO_MERGE", NO_MERGE)):
        c = Cluster(size=15, fanout=2, seed=seed, latency="const:100us")
        c.wait(c.handle(0).put("x", -1))
        watcher = c.handle(2, name="watcher")
        c.wait(watcher.wait_version(c.version(0)))  # x exists on rank 2 before the watch
        seen: list[Any] = []
        stream = watcher.watch("x")

        def keep(_stream: Any, value: Any, into: list[Any] = seen) -> None:
            into.append(value)

        stream.on_value(keep)
        c.run(duration=0.005)
        n.step(
            f"{label}: eight writers on ranks 7 to 14 each commit x = their rank, at once.",
            "" if flags else "They reach rank 0 while it is busy, and queue.",
        )
        before = c.version(0)
        futs = [c.handle(r, name=f"w{r}").put("x", r, flags=flags) for r in range(7, 15)]
        for f in futs:
            c.wait(f)
        c.run(duration=0.01)
        versions = c.version(0) - before
        values = [json.loads(v) for v in seen[1:] if isinstance(v, bytes)]
        n.say(f"8 commits made {versions} new version(s) at rank 0")
        n.result(
            f"the watcher on rank 2 saw {len(values)} of 8 values: {escape(str(values))}",
            good=len(values) == 8,
        )
        c.wait(stream.cancel())
        found[label] = {"versions": versions, "watcher saw": len(values)}
        n.pause()
    return found


def dropcache(n: Narrator, seed: int) -> dict[str, Any]:
    """A cold cache faults tree objects in from the parent, hop by hop, up to rank 0."""
    n.title(
        "dropcache",
        "Followers cache tree objects by hash. After dropcache, the next lookup walks\n"
        "the tree again and faults every missing object in from the parent.",
    )
    c = Cluster(size=15, fanout=2, seed=seed, latency="const:100us")
    leaf = c.handle(14, name="leaf reader")
    c.wait(c.handle(0).put("a.b.c", "deep value"))
    c.wait(leaf.wait_version(c.version(0)))

    def timed_read() -> tuple[Any, float, int]:
        t0 = c.now
        loads = fault_count()
        value = c.wait(leaf.get("a.b.c"))
        return value, 1e3 * (c.now - t0), fault_count() - loads

    def fault_count() -> int:
        return int(c.stats(14)["counters"].get("faults", 0))

    n.step("The leaf rank 14 reads a.b.c for the first time.")
    value, ms, faults = timed_read()
    n.result(f"read {value!r} in {ms:.2f} ms with {faults} cache faults (cold)")
    n.step("It reads again: every object is in its cache now.")
    _, warm_ms, warm_faults = timed_read()
    n.result(f"read in {warm_ms:.2f} ms with {warm_faults} faults (warm)")
    n.pause()
    n.step(
        "dropcache on rank 14 and on its parent and grandparent, then read again.",
        "The faults now travel further up the tree: each hop adds a round trip.",
    )
    for r in (14, 6, 2):
        c.wait(c.handle(r).dropcache())
    _, cold_ms, cold_faults = timed_read()
    n.result(f"read in {cold_ms:.2f} ms with {cold_faults} faults (cold path to rank 0)")
    return {
        "first read ms": round(ms, 3),
        "warm read ms": round(warm_ms, 3),
        "after dropcache ms": round(cold_ms, 3),
        "faults": [faults, warm_faults, cold_faults],
    }


DEMOS: dict[str, tuple[str, Demo]] = {
    "ryw": ("read-your-writes on the writer's rank, stale reads elsewhere", ryw),
    "handoff": ("causal hand-off: the commit's version vs get_version()", handoff),
    "merging": ("commit merging and what a watcher misses; NO_MERGE", merging),
    "dropcache": ("cold caches: faults up the tree after dropcache", dropcache),
}
"""Every demo: name -> (title, function)."""
