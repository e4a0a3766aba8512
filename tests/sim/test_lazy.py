"""Lazy delivery to idle subtrees (kvs_sim.sim.lazy) changes nothing observable.

Each test runs one workload twice, with the engine's lazy delivery on and off, and
compares what clients saw (values, versions, virtual times), every rank's roots,
the engine's counters and the clock.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from kvs_sim.sim.cluster import Cluster


def _workload(c: Cluster, seed: int, log: list[Any]) -> None:
    """Writers on a few ranks, readers and version waiters on random ranks, one
    watch: so idle subtrees turn lazy and are woken again all the time."""
    rnd = random.Random(seed)
    n = c.size

    async def writer(w: int, rank: int) -> None:
        h = c.handle(rank)
        for i in range(40):
            await h.put(f"w{w}.k{i % 7}", i)
            log.append(("put", w, i, c.now))
            await c.sleep(rnd.choice((0.0, 1e-4, 7e-4)))

    async def reader(rank: int, delay: float) -> None:
        await c.sleep(delay)
        h = c.handle(rank)
        for _ in range(5):
            try:
                v = await h.get(f"w0.k{rnd.randrange(7)}")
            except OSError as err:
                v = err.errno
            log.append(("get", rank, v, c.now))
            await c.sleep(rnd.random() * 2e-3)

    async def waiter(rank: int, version: int) -> None:
        v = await c.handle(rank).wait_version(version)
        log.append(("wait", rank, v, c.now))

    for w in range(3):
        c.spawn(writer(w, rnd.randrange(1, n)))
    for _ in range(25):
        c.spawn(reader(rnd.randrange(n), rnd.random() * 0.02))
    for _ in range(6):
        c.spawn(waiter(rnd.randrange(1, n), rnd.randrange(5, 60)))


def _observed(c: Cluster, log: list[Any]) -> Any:
    e = c.engine
    roots = [sorted((ns, st.seq, st.rootref) for ns, st in r.roots.items()) for r in c.ranks]
    return (
        log,
        roots,
        e.deliveries,
        e.busy_time(),
        list(e._busy),  # when each rank took its last message: arrival times show here
        sorted(e.link_messages().items()),
        e.now(),
        [c.version(r) for r in range(c.size)],
    )


@pytest.mark.parametrize(
    ("size", "fanout", "forward_cost", "seed"),
    [(255, 2, 12e-6, 1), (255, 2, 0.0, 2), (400, 3, 12e-6, 3), (130, 4, 0.0, 4)],
)
def test_lazy_and_eager_runs_agree(size: int, fanout: int, forward_cost: float, seed: int) -> None:
    out = []
    for lazy in (True, False):
        c = Cluster(size=size, fanout=fanout, seed=seed, forward_cost=forward_cost, lazy=lazy)
        log: list[Any] = []
        _workload(c, seed, log)
        c.run()
        out.append(_observed(c, log))
    assert len(out[0][0]) > 100
    assert out[0] == out[1]


def test_partial_runs_and_counters_mid_run_agree() -> None:
    """run(until=...) in small steps, reading counters between them."""
    out = []
    for lazy in (True, False):
        c = Cluster(size=300, fanout=2, seed=5, lazy=lazy)
        log: list[Any] = []
        _workload(c, 5, log)
        seen = []
        for step in range(1, 60):
            c.run(until=step * 7.3e-4)
            seen.append((c.engine.deliveries, sum(c.engine.busy_time()), c.version(299)))
        c.run()
        out.append((_observed(c, log), seen))
    assert out[0] == out[1]


def test_lazy_is_used_and_turned_off_by_faults() -> None:
    c = Cluster(size=200, fanout=2, seed=0)
    log: list[Any] = []
    _workload(c, 0, log)
    c.run(until=0.005)
    assert c.engine._lz and c.engine._lz_tops  # idle subtrees were lazy
    c.faults  # noqa: B018 (creating the fault layer turns laziness off)
    assert not c.engine._lz
    c.run()
    assert c.converged()


def test_settling_on_its_own_mid_run_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """With few records allowed, the engine settles inside the loop now and then."""
    from kvs_sim.sim import lazy

    monkeypatch.setattr(lazy, "RECORD_LIMIT", -16)  # 4096 - 16 * 255: every 16 records
    out = []
    for on in (True, False):
        c = Cluster(size=255, fanout=2, seed=6, lazy=on)
        log: list[Any] = []
        _workload(c, 6, log)
        c.run()
        out.append(_observed(c, log))
    assert out[0] == out[1]


def test_recorded_runs_and_random_latencies_stay_eager() -> None:
    """A recorder sees every root each rank applies; random latencies draw a sample
    per link in heap order: both keep every delivery in the heap."""
    assert not Cluster(size=100, record=True).engine._lz
    assert not Cluster(size=100, latency="uniform:20us,60us").engine._lz
    assert Cluster(size=100).engine._lz
    assert not Cluster(size=8).engine._lz  # too small to be worth it
