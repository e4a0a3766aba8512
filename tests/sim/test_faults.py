"""Nemeses in virtual time: crashes and restarts, partitions, pauses, slow ranks, spikes."""

from __future__ import annotations

import errno

import pytest

from kvs_sim import Cluster
from kvs_sim.core.flags import SYNC
from kvs_sim.history import save
from kvs_sim.nemesis import Crash, Partition, Pause, Slow, Spike, at, subtree
from kvs_sim.rank import RankConfig


def errname(c: Cluster, fut: object) -> str:
    with pytest.raises(OSError) as info:
        c.wait(fut)
    return errno.errorcode[info.value.errno or 0]


def test_a_leader_crash_loses_exactly_what_was_not_checkpointed() -> None:
    c = Cluster(size=7, fanout=2, seed=1, record=True, faults=True)
    h6 = c.handle(6, name="w")
    c.wait(h6.put("a", 1, flags=SYNC))  # version 1, checkpointed before it is answered
    c.wait(h6.put("b", 2))  # version 2: acknowledged, not checkpointed
    c.inject(Crash(rank=0), 0.05)
    assert errname(c, h6.put("c", 3)) == "EHOSTUNREACH"  # the leader is down
    c.run(duration=0.1)
    # every rank took the restarted leader's root (version 1, epoch 1), though it
    # had seen version 2: nobody is left on a root the leader lacks
    assert {(c.rank(r).roots["primary"].seq, c.rank(r).epoch) for r in range(7)} == {(1, 1)}
    c.wait(h6.put("d", 4))  # read-your-writes from the first commit after
    assert c.wait(h6.get("d")) == 4 and c.wait(h6.get("a")) == 1
    assert errname(c, h6.get("b")) == "ENOENT"
    c.run(duration=0.01)
    assert c.converged()
    hist = c.recorder.history()  # type: ignore[union-attr]
    (crash,) = hist.nemeses
    assert crash.detail["lost_versions"] == [2] and crash.detail["checkpoint"] == 1
    lost = [hist.op(i) for i in crash.detail["lost_ops"]]
    assert [o.writes for o in lost] == [{"b": 2}]
    assert crash.detail["epoch"] == 1 and crash.end == pytest.approx(crash.start + 0.05)
    timed_out = [o for o in hist.ops if o.indeterminate]
    assert [o.writes for o in timed_out] == [{"c": 3}]
    d = next(o for o in hist.ops if o.writes == {"d": 4})
    assert (d.epoch, d.version) == (1, 2)


def test_a_periodic_checkpoint_shrinks_the_loss_window() -> None:
    config = RankConfig(checkpoint_period=0.01)
    c = Cluster(size=3, seed=2, record=True, faults=True, config=config)
    h = c.handle(2)
    c.wait(h.put("a", 1))
    c.run(duration=0.02)  # the periodic checkpoint covers version 1
    c.wait(h.put("b", 2))
    c.inject(Crash(rank=0), 0.01)
    c.run(duration=0.05)
    (crash,) = c.recorder.history().nemeses  # type: ignore[union-attr]
    assert crash.detail["checkpoint"] == 1 and crash.detail["lost_versions"] == [2]
    assert c.wait(h.get("a")) == 1


def test_a_crashed_follower_resets_its_clients_and_rejoins_cold_from_its_parent() -> None:
    c = Cluster(size=7, fanout=2, seed=3, record=True, faults=True)
    c.wait(c.handle(0).put("x", 1))
    c.run(duration=0.01)
    h2 = c.handle(2)
    c.wait(h2.get("x"))
    assert c.rank(2).cache  # type: ignore[attr-defined]
    waiting = h2.wait_version(99)
    c.inject(Crash(rank=2), 0.02)
    assert errname(c, waiting) == "ECONNRESET"
    assert errname(c, h2.get("x")) == "ECONNRESET"  # sent while it is down
    assert errname(c, c.handle(5).get("x")) == "EHOSTUNREACH"  # its child cannot fault in
    c.run(duration=0.05)
    assert not c.rank(2).cache  # type: ignore[attr-defined]
    assert c.wait(c.handle(2).get("x")) == 1 and c.wait(c.handle(5).get("x")) == 1
    assert c.rank(2).counters and c.converged()


@pytest.mark.parametrize("mode", ["hold", "drop"])
def test_a_partitioned_subtree_is_stale_until_the_heal_then_converges(mode: str) -> None:
    c = Cluster(size=7, fanout=2, seed=4, record=True, faults=True)
    cut = subtree(c.overlay.parent, 1)
    c.inject(Partition(ranks=cut, mode=mode), 0.05)
    c.wait(c.handle(6).put("x", 1))
    c.run(duration=0.01)
    assert c.version(0) == 1 and all(c.version(r) == 0 for r in cut)
    assert c.version(5) == 1
    late = c.handle(3).get("x")  # needs the old root's object from across the cut
    c.run(duration=0.1)
    assert c.converged()
    # A lookup answers from the root it started at (Flux replays a stalled lookup
    # with its handle): version 0, where x did not exist yet.  A read after the
    # heal sees the write.
    if mode == "hold":
        with pytest.raises(FileNotFoundError):
            c.wait(late)
    assert c.wait(c.handle(3).get("x")) == 1


def test_a_paused_rank_serves_its_old_root_until_unpaused() -> None:
    c = Cluster(size=7, fanout=2, seed=5, faults=True)
    c.inject(Pause(rank=1), 0.02)
    c.wait(c.handle(0).put("x", 1))
    c.run(duration=0.005)
    assert c.version(1) == 0 and c.version(3) == 1  # its broker still forwards below
    c.run(duration=0.03)
    assert c.version(1) == 1 and c.converged()


def test_a_slow_rank_spends_k_times_the_service_and_a_spike_delays_its_link() -> None:
    def busy(nemesis: object) -> tuple[float, float]:
        c = Cluster(size=3, seed=6, faults=True)
        if nemesis is not None:
            c.inject(nemesis)  # type: ignore[arg-type]
        t0 = c.now
        c.wait(c.handle(2).put("x", 1))
        return c.engine.busy_time()[0], c.now - t0

    base, took = busy(None)
    slow, _ = busy(Slow(rank=0, factor=10))
    assert slow == pytest.approx(10 * base)
    _, spiked = busy(Spike(link=(0, 2), extra=0.01))
    assert spiked >= took + 0.02  # the relay up and the setroot down


def test_faults_are_part_of_the_seed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def run(seed: int) -> bytes:
        c = Cluster(
            size=7, fanout=2, seed=seed, record=True, nemesis=("partition", "crash", "pause"),
            nemesis_interval=0.01,
        )  # fmt: skip
        hs = [c.handle(r) for r in (0, 3, 6)]

        async def work() -> None:
            for i in range(30):
                h = hs[i % 3]
                try:
                    await h.put(f"k{i % 4}", i)
                    await h.get(f"k{i % 4}")
                except OSError:
                    pass
                await c.sleep(0.002)

        c.wait(c.spawn(work))
        c.heal_all()
        c.run(duration=0.1)
        assert c.converged()
        path = tmp_path / f"h{seed}.jsonl"
        save(c.recorder.history(), path)  # type: ignore[union-attr]
        return path.read_bytes()

    a = run(11)
    assert a == run(11) and a != run(12)
    assert b'"kind": "nemesis"' in a


def test_scheduled_nemeses_start_and_heal_on_time() -> None:
    c = Cluster(
        size=3,
        seed=7,
        record=True,
        nemeses=[
            at(0.01, Pause(rank=1), 0.02),
            {"at": 0.02, "kind": "crash", "rank": 2, "for": 0.01},
        ],
    )
    c.run(until=0.1)
    pause, crash = c.recorder.history().nemeses  # type: ignore[union-attr]
    assert (pause.name, pause.start, pause.end) == ("pause", 0.01, pytest.approx(0.03))
    assert (crash.name, crash.ranks, crash.end) == ("crash", (2,), pytest.approx(0.03))
    assert c.engine._gate is None and not c.engine.slow_path  # nothing left active
