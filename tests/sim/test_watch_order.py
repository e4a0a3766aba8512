"""A watch answers once per root that changed its key, in root order, as Flux's
kvs-watch does: a rank busy faulting objects in holds later answers back and never
swallows them."""

from __future__ import annotations

from kvs_sim import Cluster
from kvs_sim.core.flags import NO_MERGE


def test_a_watch_on_a_cold_rank_sees_every_unmerged_commit_in_order() -> None:
    c = Cluster(size=15, fanout=2, seed=3, latency="const:100us", record=True)
    c.wait(c.handle(0).put("x", -1))
    watcher = c.handle(6, name="watcher")
    c.wait(watcher.wait_version(c.version(0)))
    seen: list[bytes] = []
    stream = watcher.watch("x")
    stream.on_value(lambda _s, v: seen.append(v))
    c.run(duration=0.005)
    c.wait(watcher.dropcache())  # every later root must be faulted in again
    futs = [c.handle(r).put("x", r, flags=NO_MERGE) for r in range(7, 15)]
    for f in futs:
        c.wait(f)
    c.run(duration=0.02)
    values = [int(v) for v in seen[1:]]
    assert sorted(values) == list(range(7, 15))
    assert c.recorder is not None
    versions = [o.version for o in c.recorder.history().ops if o.op == "watch"]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_watch_responses_are_ordered_after_the_watch_start_only() -> None:
    """A stream that lags behind its own process's later commit is not a stale read."""
    c = Cluster(size=4, fanout=1, seed=0, record=True)
    h = c.handle(3, name="p0")
    c.wait(h.put("a", 0))
    stream = h.watch("a")
    c.wait(h.put("a", 1))
    c.run(duration=0.01)
    assert c.recorder is not None
    ops = c.recorder.history().ops
    start = next(o.invoke for o in ops if o.op == "commit" and o.writes == {"a": 1})
    watches = [o for o in ops if o.op == "watch"]
    assert len(watches) == 2 and all(o.invoke <= start for o in watches)
    assert watches[1].complete is not None and watches[1].complete > start
    c.wait(stream.cancel())
