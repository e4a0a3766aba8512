"""Lazy delivery to idle subtrees (kvs_sim.sim.lazy) changes nothing observable.

Each test runs one workload twice, with the engine's lazy delivery on and off, and
compares what clients saw (values, versions, virtual times), every rank's roots,
the engine's counters and the clock.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from kvs_sim.rank.config import RankConfig, ServiceTimes
from kvs_sim.sim.cluster import Cluster

SLOW = RankConfig(service=ServiceTimes(setroot=1e-3))
"""Setroots that take longer than the leader takes to publish the next (about
0.5 ms): lazy ranks are still busy when the next one comes, also across settles."""


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
    ("size", "fanout", "forward_cost", "seed", "config"),
    [
        (255, 2, 12e-6, 1, None),
        (255, 2, 0.0, 2, None),
        (400, 3, 12e-6, 3, None),
        (130, 4, 0.0, 4, None),
        (400, 3, 12e-6, 3, SLOW),
        (255, 2, 0.0, 2, SLOW),
    ],
)
def test_lazy_and_eager_runs_agree(
    size: int, fanout: int, forward_cost: float, seed: int, config: RankConfig | None
) -> None:
    out = []
    for lazy in (True, False):
        c = Cluster(
            size=size, fanout=fanout, seed=seed, forward_cost=forward_cost, config=config, lazy=lazy
        )
        log: list[Any] = []
        _workload(c, seed, log)
        c.run()
        out.append(_observed(c, log))
    assert len(out[0][0]) > 100
    assert out[0] == out[1]


@pytest.mark.parametrize("config", [None, SLOW])
def test_partial_runs_and_counters_mid_run_agree(config: RankConfig | None) -> None:
    """run(until=...) in small steps, reading counters between them."""
    out = []
    for lazy in (True, False):
        c = Cluster(size=300, fanout=2, seed=5, config=config, lazy=lazy)
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


@pytest.mark.parametrize("config", [None, SLOW])
def test_settling_on_its_own_mid_run_agrees(
    monkeypatch: pytest.MonkeyPatch, config: RankConfig | None
) -> None:
    """With few records allowed, the engine settles inside the loop now and then."""
    from kvs_sim.sim import lazy

    monkeypatch.setattr(lazy, "RECORD_LIMIT", -16)  # 4096 - 16 * 255: every 16 records
    out = []
    for on in (True, False):
        c = Cluster(size=255, fanout=2, seed=6, config=config, lazy=on)
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


NAMES = ("primary", "a", "b")


def _namespaces(c: Cluster, seed: int, log: list[Any]) -> None:
    """Setroots of three namespaces, ranks that know one, two or three of them,
    and a namespace removed mid-run: runs of mixed namespaces and a tree event
    that is not a setroot (taken one by one) reach idle subtrees."""
    rnd = random.Random(seed)
    n = c.size

    async def admin() -> None:
        h = c.handle(0)
        for ns in ("a", "b"):
            await h.namespace_create(ns)
        log.append(("created", c.now))
        await c.sleep(0.004)
        await h.namespace_remove("b")
        log.append(("removed", c.now))

    async def writer(w: int, rank: int, ns: str) -> None:
        await c.sleep(0.001)
        h = c.handle(rank)
        for i in range(30):
            try:
                await h.put(f"w{w}.k{i % 5}", i, ns=ns)
                log.append(("put", w, ns, i, c.now))
            except OSError as err:
                log.append(("put", w, ns, err.errno, c.now))
            await c.sleep(rnd.choice((0.0, 2e-4)))

    async def reader(rank: int, names: tuple[str, ...], delay: float) -> None:
        await c.sleep(delay)
        h = c.handle(rank)
        for ns in names:
            try:
                v = await h.get(f"w{NAMES.index(ns)}.k1", ns=ns)
            except OSError as err:
                v = ("errno", err.errno)
            log.append(("get", rank, ns, v, c.now))

    c.spawn(admin())
    for w, ns in enumerate(NAMES):
        c.spawn(writer(w, rnd.randrange(1, n), ns))
    for _ in range(40):
        names = rnd.sample(NAMES, rnd.randrange(1, 4))
        c.spawn(reader(rnd.randrange(1, n), tuple(names), 0.0011 + rnd.random() * 0.006))


@pytest.mark.parametrize(
    ("setroot", "forward_cost"), [(15e-6, 12e-6), (0.0, 0.0), (0.0, 12e-6), (1e-3, 12e-6)]
)
def test_namespaces_removals_and_free_setroots_agree(setroot: float, forward_cost: float) -> None:
    """Runs of several namespaces' setroots, a removal (not a setroot: handled one
    by one) and setroots that cost nothing, lazily and eagerly."""
    config = RankConfig(service=ServiceTimes(setroot=setroot))
    out = []
    for lazy in (True, False):
        c = Cluster(size=300, fanout=2, seed=8, forward_cost=forward_cost, config=config, lazy=lazy)
        log: list[Any] = []
        _namespaces(c, 8, log)
        c.run()
        out.append(_observed(c, log))
    log = out[0][0]
    assert {"created", "removed"} <= {e[0] for e in log}
    assert sum(len(roots) > 1 for roots in out[0][1]) >= 20  # ranks knowing several
    assert out[0] == out[1]


async def _poll(c: Cluster, seen: list[Any], watched: tuple[int, ...] = (3, 40, 130, 254)) -> None:
    """Every 0.1 ms, from client code: the versions and busy times of ``watched``."""
    for _ in range(300):
        await c.sleep(1e-4)
        busy = c.engine.busy_time()
        seen.append([c.version(r) for r in watched] + [busy[r] for r in watched])


@pytest.mark.parametrize(
    "config",
    [SLOW, RankConfig(service=ServiceTimes(setroot=0.0, message=3e-4))],
    ids=["slow-setroots", "free-setroots-slow-messages"],
)
@pytest.mark.parametrize("limit", [None, -16])
def test_reads_from_client_code_during_a_run_agree(
    monkeypatch: pytest.MonkeyPatch, config: RankConfig, limit: int | None
) -> None:
    """A process reads versions and busy times every 0.1 ms while the run goes on
    (each read settles at that instant): a rank still busy then has taken only the
    setroots the eager engine let it take, also after settles inside the loop
    (``limit`` -16: every 16 records).  With free setroots, a rank busy with a
    slow message takes the setroots that came meanwhile only once it is free."""
    from kvs_sim.sim import lazy

    if limit is not None:
        monkeypatch.setattr(lazy, "RECORD_LIMIT", limit)
    out = []
    for on in (True, False):
        c = Cluster(size=255, fanout=2, seed=9, config=config, lazy=on)
        log: list[Any] = []
        _workload(c, 9, log)
        seen: list[Any] = []
        c.spawn(_poll(c, seen))
        c.run()
        out.append((_observed(c, log), seen))
    assert len({tuple(s[:4]) for s in out[0][1]}) > 20  # versions moved while watched
    assert out[0] == out[1]
