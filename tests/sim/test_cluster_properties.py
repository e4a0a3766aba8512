"""Random workloads on random clusters: every guarantee Flux gives must hold.

Hypothesis draws a cluster (size, fanout, latency model, event mode, loss, seed)
and a few client processes on random ranks, each a random program of puts, gets,
version waits, cache drops, watches, pauses and causal hand-offs (a version sent
through a channel, waited for by the receiver before it reads).  They run
concurrently in virtual time with every operation recorded; the history checkers
then judge the run.  The simulator promises read-your-writes, monotonic reads and
writes, writes-follow-reads, causal consistency through such hand-offs, reads
consistent with the committed history, and convergence; nothing else (a far
reader may be stale), so only those are asserted.  With lossy links (events
dropped) every session guarantee must still hold, but convergence is not promised.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvs_sim import Cluster
from kvs_sim.channel import Channel
from kvs_sim.checks import check_all
from kvs_sim.core.errors import KVSError
from kvs_sim.core.flags import WAITCREATE

PROMISED = (
    "causal",
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "read-validity",
    "convergence",
)

KEYS = ("a", "b", "d.x", "d.y")
ops = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, 9)),
    st.tuples(st.just("put+get"), st.sampled_from(KEYS), st.integers(0, 9)),
    st.tuples(st.just("get"), st.sampled_from(KEYS)),
    st.tuples(st.just("wait"), st.integers(0, 2)),
    st.tuples(st.just("sleep"), st.sampled_from((0.0, 50e-6, 300e-6, 2e-3))),
    st.tuples(st.just("dropcache")),
    st.tuples(st.just("watch"), st.sampled_from(KEYS)),
    st.tuples(st.just("send")),
    st.tuples(st.just("recv")),
)
clusters = st.fixed_dictionaries(
    {
        "size": st.integers(2, 20),
        "fanout": st.integers(1, 4),
        "seed": st.integers(0, 2**16),
        "latency": st.sampled_from(("const:100us", "uniform:20us,400us", "lognormal:100us,0.8")),
        "events": st.sampled_from(("tree", "broker")),
        "loss": st.sampled_from((0.0, 0.0, 0.0, 0.25)),
    }
)


async def _process(
    c: Cluster, ch: Channel, rank: int, name: str, program: list[tuple[Any, ...]]
) -> None:
    h = c.handle(rank, name=name)
    watches = []
    wrote = KEYS[0]
    for op in program:
        kind = op[0]
        if kind == "put":
            await h.put(op[1], op[2])
            wrote = op[1]
        elif kind == "put+get":  # read-your-writes, exercised directly
            await h.put(op[1], op[2])
            wrote = op[1]
            await h.get(op[1])
        elif kind == "get":
            with contextlib.suppress(KVSError):  # a key nobody wrote yet
                await h.get(op[1])
        elif kind == "wait":
            version = await h.get_version()
            with contextlib.suppress(TimeoutError):  # not that many versions in time
                await h.wait_version(version + op[1], timeout=0.01)
        elif kind == "sleep":
            await c.sleep(op[1])
        elif kind == "watch":
            watches.append(h.watch(op[1], flags=WAITCREATE))
        elif kind == "send":  # a causal hand-off: the version seen after writing
            ch.send(h, [await h.get_version(), wrote])
        elif kind == "recv":  # waits for a hand-off (for ever if none comes)
            version, key = await ch.recv(h)
            await h.wait_version(version)
            with contextlib.suppress(KVSError):
                await h.get(key)
        else:
            await h.dropcache()
    for w in watches:
        await w.cancel()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=clusters,
    procs=st.lists(
        st.tuples(st.integers(0, 19), st.lists(ops, min_size=1, max_size=12)),
        min_size=1,
        max_size=5,
    ),
)
def test_random_workloads_keep_every_promised_guarantee(
    cfg: dict[str, Any], procs: list[tuple[int, list[tuple[Any, ...]]]]
) -> None:
    c = Cluster(**cfg, record=True)
    ch = c.channel()
    for i, (rank, program) in enumerate(procs):
        c.spawn(_process(c, ch, rank % c.size, f"p{i}", program))
    c.run()
    lossy = cfg["loss"] > 0  # a lost last setroot leaves a rank behind for good
    assert lossy or c.converged()
    assert c.recorder is not None
    verdicts = {v.guarantee: v for v in check_all(c.recorder.history())}
    for name in PROMISED:
        if lossy and name == "convergence":
            continue
        v = verdicts[name]
        assert v.held is not False, f"{name} violated: {[x.summary for x in v.violations]}"
