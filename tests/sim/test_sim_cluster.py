"""Multi-rank behaviour of the simulated cluster, in virtual time."""

from __future__ import annotations

import errno

import networkx as nx
import pytest

from kvs_sim.core.errors import KVSError
from kvs_sim.core.flags import NO_MERGE, WAITCREATE, WATCH_APPEND, WATCH_UNIQ
from kvs_sim.core.txn import Txn
from kvs_sim.rank import RankConfig
from kvs_sim.sim.cluster import Cluster


def put(c: Cluster, rank: int, key: str, value: object, **kw: object) -> dict:
    return c.wait(c.handle(rank).put(key, value, **kw))


def get(c: Cluster, rank: int, key: str) -> object:
    return c.wait(c.handle(rank).get(key))


def test_read_your_writes_on_the_committing_follower() -> None:
    c = Cluster(size=15, fanout=2, seed=1)
    h = c.handle(14)
    c.wait(h.put("x", 1))
    assert c.wait(h.get("x")) == 1
    c.wait(h.put("x", 2))
    assert c.wait(h.get("x")) == 2


def test_far_rank_is_stale_right_after_a_commit_then_converges() -> None:
    c = Cluster(size=15, fanout=2, seed=1)
    put(c, 0, "x", "old")
    c.run()
    leader = c.handle(0)
    far = c.handle(14)
    assert c.wait(far.get("x")) == "old"  # warms rank 14's cache
    c.wait(leader.put("x", "new"))
    # The commit returned on rank 0; the setroot is still travelling down the tree,
    # and rank 14 serves the old root from its cache.
    assert c.version(14) < c.version(0)
    assert c.wait(far.get("x")) == "old"
    c.run(duration=0.01)
    assert c.converged()
    assert c.wait(far.get("x")) == "new"


def test_versions_only_move_forward_on_every_rank() -> None:
    c = Cluster(size=31, fanout=2, seed=3, latency="uniform:50us,500us")
    seen: dict[int, list[int]] = {r: [] for r in range(c.size)}

    async def writer(rank: int) -> None:
        h = c.handle(rank)
        for i in range(10):
            await h.put(f"k{rank}", i)

    for r in (1, 7, 30):
        c.spawn(writer(r))
    for _ in range(60):
        c.run(duration=0.0003)
        for r in range(c.size):
            seen[r].append(c.version(r))
    c.run()
    for r, versions in seen.items():
        assert versions == sorted(versions), f"rank {r} went backwards: {versions}"
    assert c.converged()


def test_causal_handoff_through_get_version_and_wait_version() -> None:
    c = Cluster(size=15, fanout=2, seed=2)
    put(c, 0, "x", "old")
    c.run()
    writer, reader = c.handle(7), c.handle(14)
    c.wait(writer.put("x", "new"))
    v = c.wait(writer.get_version())
    c.wait(reader.wait_version(v))
    assert c.wait(reader.get("x")) == "new"


def test_follower_commit_reports_previous_version_by_default() -> None:
    c = Cluster(size=7, fanout=2, seed=2)
    h = c.handle(6)
    resp = c.wait(h.put("x", 1))
    assert resp["seq"] == c.version(6) - 1
    c2 = Cluster(size=7, fanout=2, seed=2, config=RankConfig(commit_response="documented"))
    resp2 = c2.wait(c2.handle(6).put("x", 1))
    assert resp2["seq"] == c2.version(6)


def test_concurrent_commits_are_merged_and_no_merge_is_not() -> None:
    def run(flags: int) -> tuple[int, int]:
        c = Cluster(size=7, fanout=2, seed=5)
        futs = [c.handle(r % 7).put(f"k{r}", r, flags=flags) for r in range(40)]
        for f in futs:
            c.wait(f)
        c.run()
        return c.version(0), 40

    merged_versions, commits = run(0)
    unmerged_versions, _ = run(NO_MERGE)
    assert merged_versions < commits
    assert unmerged_versions == commits


def test_failed_transaction_in_a_merged_batch_fails_alone() -> None:
    c = Cluster(size=3, fanout=2, seed=1)
    h = c.handle(0)
    bad = Txn()
    bad.put("x", 1)
    bad.ops  # noqa: B018 - building must not fail; applying must
    bad_ops = [{"key": ".", "flags": 0, "dirent": bad.ops[0]["dirent"]}]
    good = [h.put(f"g{i}", i) for i in range(5)]
    failing = h.commit(bad_ops)
    for f in good:
        c.wait(f)
    with pytest.raises(KVSError) as info:
        c.wait(failing)
    assert info.value.errno == errno.EINVAL
    assert [get(c, 0, f"g{i}") for i in range(5)] == list(range(5))


def test_dropcache_makes_reads_fault_again_with_the_same_values() -> None:
    c = Cluster(size=15, fanout=2, seed=1)
    for i in range(5):
        put(c, 0, f"dir.k{i}", i)
    c.run()
    first = [get(c, 14, f"dir.k{i}") for i in range(5)]
    faults = c.stats(14)["counters"].get("faults", 0)
    assert faults > 0
    again = [get(c, 14, f"dir.k{i}") for i in range(5)]
    assert c.stats(14)["counters"].get("faults", 0) == faults  # all cached now
    c.wait(c.handle(14).dropcache())
    after = [get(c, 14, f"dir.k{i}") for i in range(5)]
    assert first == again == after == list(range(5))
    assert c.stats(14)["counters"]["faults"] > faults


def test_cache_entries_expire_after_idle_time() -> None:
    c = Cluster(size=3, fanout=2, seed=1, config=RankConfig(cache_expiry=1.0))
    put(c, 0, "a.b", 1)
    c.run()
    get(c, 2, "a.b")
    faults = c.stats(2)["counters"]["faults"]
    c.run(duration=2.0)
    assert c.stats(2)["cache"]["objects"] == 0
    get(c, 2, "a.b")
    assert c.stats(2)["counters"]["faults"] > faults


def test_watch_plain_uniq_waitcreate_append_and_cancel() -> None:
    c = Cluster(size=7, fanout=2, seed=1)
    w = c.handle(5)
    plain = w.watch("w", flags=WAITCREATE)
    uniq = w.watch("w", flags=WAITCREATE | WATCH_UNIQ)
    for value in (1, 1, 2):
        put(c, 0, "w", value)
        c.run()
    assert plain.values == [b"1", b"1", b"2"]
    assert uniq.values == [b"1", b"2"]
    log = c.handle(5)
    h0 = c.handle(0)
    t = Txn()
    t.append("log", b"a")
    c.wait(h0.commit(t))
    c.run()
    app = log.watch("log", flags=WATCH_APPEND)
    c.run()
    t = Txn()
    t.append("log", b"bc")
    c.wait(h0.commit(t))
    c.run()
    assert app.values == [b"a", b"bc"]
    c.wait(plain.cancel())
    c.run()
    assert plain.ended and plain.error is not None and plain.error.errno == errno.ENODATA


def test_watch_without_waitcreate_on_a_missing_key_is_enoent() -> None:
    c = Cluster(size=3, fanout=2, seed=1)
    w = c.handle(2).watch("nope")
    c.run()
    assert w.ended and w.error is not None and w.error.errno == errno.ENOENT


def test_namespaces_are_isolated_and_guarded() -> None:
    c = Cluster(size=7, fanout=2, seed=1)
    owner = c.handle(0)
    c.wait(owner.namespace_create("job1", owner=1000))
    alice = c.handle(6, userid=1000)
    bob = c.handle(6, userid=1001)
    c.wait(alice.put("x", 1, ns="job1"))
    c.wait(owner.put("x", "primary's"))
    assert c.wait(alice.get("x", ns="job1")) == 1
    assert c.wait(c.handle(6).get("x")) == "primary's"
    with pytest.raises(PermissionError):
        c.wait(alice.get("x"))  # primary belongs to the instance owner
    for fut in (bob.get("x", ns="job1"), bob.put("y", 1, ns="job1")):
        with pytest.raises(PermissionError):
            c.wait(fut)
    with pytest.raises(KVSError) as info:
        c.wait(alice.get("x", ns="nosuch"))
    assert info.value.errno == errno.EOPNOTSUPP
    with pytest.raises(FileExistsError):
        c.wait(owner.namespace_create("job1", owner=1000))
    names = [n["namespace"] for n in c.wait(owner.namespace_list())]
    assert names == ["job1", "primary"]


def test_same_seed_same_trace_different_seed_different_trace() -> None:
    def trace(seed: int) -> list[tuple[float, int, object]]:
        c = Cluster(size=15, fanout=2, seed=seed, latency="lognormal:100us,0.5")
        log: list[tuple[float, int, object]] = []
        for r in range(1, 15, 3):
            c.spawn(_writer(c, r, log))
        c.run()
        return log

    assert trace(7) == trace(7)
    assert trace(7) != trace(8)


async def _writer(c: Cluster, rank: int, log: list) -> None:
    h = c.handle(rank)
    for i in range(3):
        resp = await h.put(f"k{rank}", i)
        log.append((c.now, rank, resp["seq"]))


def test_user_supplied_overlay_and_broker_events() -> None:
    g = nx.Graph([(0, 1), (0, 2), (2, 3), (3, 4)])
    c = Cluster(overlay=g, seed=1, events="broker")
    put(c, 4, "x", 1)
    c.run()
    assert c.converged()
    assert get(c, 3, "x") == 1


@pytest.mark.parametrize("bad", [{"size": 0}, {"fanout": 0}, {"seed": "x"}, {"size": 2.5}])
def test_bad_cluster_arguments_are_rejected_clearly(bad: dict) -> None:
    with pytest.raises(ValueError):
        Cluster(**bad)  # type: ignore[arg-type]


def test_a_wait_version_timeout_that_was_not_needed_does_not_move_time() -> None:
    c = Cluster(size=3, fanout=2, seed=1)
    put(c, 0, "x", 1)
    c.run()
    h = c.handle(2)
    c.wait(h.wait_version(1, timeout=100.0))
    c.run()
    assert c.now < 1.0


def test_wait_version_times_out_with_etimedout() -> None:
    c = Cluster(size=3, fanout=2, seed=1)
    with pytest.raises(TimeoutError) as info:
        c.wait(c.handle(2).wait_version(5, timeout=0.5))
    assert info.value.errno == errno.ETIMEDOUT
    assert c.now == pytest.approx(0.5)


def test_setroot_events_appear_on_their_mqtt_topic() -> None:
    c = Cluster(size=3, fanout=2, seed=1, name="demo")
    seen: list[tuple[str, int]] = []
    c.bus.subscribe("kvs-sim/+/event/+/setroot", lambda topic, msg: seen.append((topic, msg.seq)))
    c.wait(c.handle(0).namespace_create("a/b", owner=0))
    put(c, 2, "x", 1)
    c.wait(c.handle(1).put("y", 2, ns="a/b"))
    assert seen == [
        ("kvs-sim/demo/event/primary/setroot", 1),
        ("kvs-sim/demo/event/a%2Fb/setroot", 1),
    ]


def test_a_restarted_leader_resumes_from_its_sqlite_checkpoint(tmp_path) -> None:
    from kvs_sim.core.flags import SYNC

    path = str(tmp_path / "content.sqlite")
    with Cluster(size=3, fanout=2, seed=1, store=path) as c:
        put(c, 2, "job.state", "running")
        put(c, 1, "job.result", [1, 2, 3], flags=SYNC)
        version = c.version(0)
    with Cluster(size=3, fanout=2, seed=1, store=path) as again:
        assert again.version(0) == version
        assert get(again, 2, "job.state") == "running"
        assert get(again, 1, "job.result") == [1, 2, 3]
        checkpoint = again.wait(again.handle(0).checkpoint_lookup())
        assert checkpoint["sequence"] == version


def test_stats_report_cache_and_leader_counters() -> None:
    c = Cluster(size=7, fanout=2, seed=1)
    futs = [c.handle(r).put(f"k{r}", r) for r in range(7)]
    for f in futs:
        c.wait(f)
    get(c, 6, "k1")
    leader = c.wait(c.handle(0).stats())
    assert leader["counters"]["transactions"] == 7
    assert leader["counters"]["versions"] <= 7
    assert leader["namespaces"]["primary"]["seq"] == c.version(0)
    follower = c.stats(6)
    assert follower["cache"]["objects"] > 0 and follower["cache"]["bytes"] > 0
    assert follower["counters"]["faults"] > 0


def test_forward_cost_serialises_a_wide_fanout() -> None:
    def applied(forward_cost: float) -> dict[int, float]:
        c = Cluster(size=33, fanout=32, seed=1, forward_cost=forward_cost, record=True)
        put(c, 0, "x", 1)
        c.run()
        assert c.recorder is not None
        return {r.rank: r.time for r in c.recorder.history().roots if r.version == 1}

    free, costly = applied(0.0), applied(10e-6)
    assert free[32] == pytest.approx(free[1])
    assert costly[32] - costly[1] == pytest.approx(31 * 10e-6)
    assert costly[1] == pytest.approx(free[1])


def test_read_your_writes_survives_lost_events() -> None:
    c = Cluster(size=15, fanout=2, seed=3, loss=0.3)
    h = c.handle(14)
    for i in range(30):
        c.wait(h.put("x", i))
        assert c.wait(h.get("x")) == i
    assert c.engine.events_lost > 0
    assert c.stats(14)["counters"]["commit_root_fetches"] > 0


def test_leader_dropcache_makes_it_load_from_its_backing_store() -> None:
    c = Cluster(size=3, fanout=2, seed=1)
    put(c, 0, "a.b", 1)
    get(c, 0, "a.b")
    assert c.stats(0)["counters"].get("backing_loads", 0) == 0
    c.wait(c.handle(0).dropcache())
    assert get(c, 0, "a.b") == 1
    assert c.stats(0)["counters"]["backing_loads"] > 0


def test_a_full_watch_sees_its_parent_removed_and_a_plain_one_does_not() -> None:
    from kvs_sim.core.flags import WATCH_FULL

    c = Cluster(size=7, fanout=2, seed=1)
    put(c, 0, "dir.key", 1)
    c.run()
    plain = c.handle(6).watch("dir.key")
    full = c.handle(6).watch("dir.key", flags=WATCH_FULL)
    c.run()
    t = Txn()
    t.unlink("dir")
    c.wait(c.handle(0).commit(t))
    c.run()
    assert plain.values == [b"1"] and not plain.ended
    assert full.values == [b"1"] and full.ended
    assert full.error is not None and full.error.errno == errno.ENOENT


def test_a_removed_namespace_fails_its_waiters_on_followers() -> None:
    c = Cluster(size=7, fanout=2, seed=1)
    owner, h6 = c.handle(0), c.handle(6)
    c.wait(owner.namespace_create("tmp", owner=0))
    c.wait(h6.put("a", 1, ns="tmp"))
    waiting = h6.wait_version(10, ns="tmp")
    c.wait(owner.namespace_remove("tmp"))
    c.run()
    assert waiting.done() and waiting.exception().errno == errno.EOPNOTSUPP
    with pytest.raises(KVSError) as info:
        c.wait(h6.get("a", ns="tmp"))
    assert info.value.errno == errno.EOPNOTSUPP
    c.wait(owner.namespace_create("tmp", owner=0))  # the name is free again


def test_append_watch_answers_per_appended_blob_as_flux() -> None:
    """WATCH_APPEND answers once per appended blob, as Flux's kvs-watch does: two
    appends in one commit are two answers, an empty append an empty one (so
    ``flux kvs get --watch --append --count=N`` counts them); an overwrite ends
    the stream with EINVAL."""
    c = Cluster(size=3, fanout=2, seed=1)
    h0 = c.handle(0)
    t = Txn()
    t.append("log", b"abc")
    c.wait(h0.commit(t))
    c.run()  # rank 2 has the version with the key
    app = c.handle(2).watch("log", flags=WATCH_APPEND)
    c.run()
    for data in ([b"d", b"e"], [b""], [b"f"]):
        t = Txn()
        for chunk in data:
            t.append("log", chunk)
        c.wait(h0.commit(t))
        c.run()
    t = Txn()
    t.append("other", b"x")  # a commit that does not touch the key: no answer
    c.wait(h0.commit(t))
    c.run()
    assert app.values == [b"abc", b"d", b"e", b"", b"f"] and not app.ended
    t = Txn()
    t.put_raw("log", b"new")
    c.wait(h0.commit(t))
    c.run()
    assert app.ended and app.error is not None and app.error.errno == errno.EINVAL
    t = Txn()
    t.append("log2", b"a")
    c.wait(h0.commit(t))
    c.run()
    app2 = c.handle(2).watch("log2", flags=WATCH_APPEND)
    c.run()
    t = Txn()
    t.mkdir("log2")  # a directory now: EINVAL as for an overwrite (EISDIR only at first)
    c.wait(h0.commit(t))
    c.run()
    assert app2.ended and app2.error is not None and app2.error.errno == errno.EINVAL
