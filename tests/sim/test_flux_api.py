"""The Flux-compatible API (``kvs_sim.flux``) against a simulated instance.

Each behaviour documented for ``flux.kvs`` or observed on a real Flux instance
(``shared/reference/flux-kvs-model.md``) is checked on the leader (rank 0) and
on a follower two hops down (rank 5), unless it only concerns one of them.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

import pytest

from kvs_sim.flux import Flux, constants, kvs
from kvs_sim.flux.handle import URI_ENV, forget_instances, parse_uri
from kvs_sim.rank import RankConfig
from kvs_sim.sim.cluster import Cluster

RANKS = pytest.mark.parametrize("rank", [0, 5], ids=["leader", "follower"])


@pytest.fixture
def c() -> Cluster:
    return Cluster(size=8, fanout=2, seed=1)


def oserror(fn: Any, *args: Any, **kw: Any) -> str:
    """Run ``fn`` expecting an OSError; its errno's name."""
    with pytest.raises(OSError) as info:
        fn(*args, **kw)
    return errno.errorcode[info.value.errno]


def put_commit(h: Flux, key: str, value: Any, **kw: Any) -> None:
    kvs.put(h, key, value, **kw)
    kvs.commit(h)


# -- the handle -----------------------------------------------------------------------


def test_parse_uri_and_its_errors() -> None:
    u = parse_uri("sim://?size=4&fanout=3&seed=9&rank=3&commit_response=documented")
    assert (u.size, u.fanout, u.seed, u.rank, u.commit_response) == (4, 3, 9, 3, "documented")
    assert parse_uri(str(u)) == u
    assert parse_uri("sim://") == parse_uri("sim://?size=8&fanout=2&seed=0&rank=0")
    bad = {
        "http://x": "sim:// or mqtt://",
        "sim://?size=x": "size must be an integer, got 'x'",
        "sim://?size=0": "size must be >= 1",
        "sim://?rank=8": "rank must be in 0..7",
        "sim://?seed=-1": "seed must be >= 0",
        "sim://?colour=red": "unknown parameter 'colour'",
        "sim://?rank=1&rank=2": "given twice",
        "sim://?commit_response=maybe": "commit_response must be one of",
        "sim://host/path": "only query parameters",
    }
    for uri, message in bad.items():
        with pytest.raises(ValueError, match=message):
            parse_uri(uri)


def test_flux_without_arguments_shares_the_default_instance(monkeypatch: Any) -> None:
    monkeypatch.delenv(URI_ENV, raising=False)
    forget_instances()
    a, b = Flux(), Flux()
    assert a.cluster is b.cluster and a.get_rank() == 0 and a.attr_get("size") == "8"
    put_commit(a, "shared", 1)
    assert kvs.get(b, "shared") == 1
    forget_instances()


def test_flux_follows_the_environment_and_a_positional_uri(monkeypatch: Any) -> None:
    monkeypatch.setenv(URI_ENV, "sim://?size=4&fanout=2&seed=1&rank=3")
    h = Flux()
    assert (h.get_rank(), h.attr_get("rank"), h.attr_get("size")) == (3, "3", "4")
    assert Flux("sim://?size=4&fanout=2&seed=1&rank=1").cluster is h.cluster
    assert Flux(rank=2).get_rank() == 2
    assert oserror(h.attr_get, "broker.pid") == "ENOENT"
    monkeypatch.setenv(URI_ENV, "sim://?size=four")
    with pytest.raises(ValueError, match="size must be an integer"):
        Flux()
    with pytest.raises(ValueError, match="not both"):
        Flux("sim://", cluster=h.cluster)
    forget_instances()


def test_live_uris_need_the_live_hook(monkeypatch: Any, c: Cluster) -> None:
    import kvs_sim.live

    monkeypatch.delattr(kvs_sim.live, "flux_backend", raising=False)
    with pytest.raises(RuntimeError, match="flux_backend"):
        Flux("mqtt://localhost:1883/demo")
    c.default_rank = 2  # type: ignore[attr-defined]
    monkeypatch.setattr(kvs_sim.live, "flux_backend", lambda uri: c, raising=False)
    h = Flux("mqtt://localhost:1883/demo")
    assert h.cluster is c and h.get_rank() == 2
    monkeypatch.setitem(sys.modules, "kvs_sim.live", None)
    with pytest.raises(RuntimeError, match=r"needs kvs_sim\.live"):
        Flux("mqtt://localhost:1883/demo")


# -- values --------------------------------------------------------------------------

VALUES = [
    (10, {}, 10),
    (10.5, {}, 10.5),
    ("stuff", {}, "stuff"),
    (None, {}, None),
    ("\u32db \u263a", {}, "\u32db \u263a"),
    ([1, 2, 3], {}, [1, 2, 3]),
    ({"thing": "stuff"}, {}, {"thing": "stuff"}),
    (bytes.fromhex("deadbeef"), {}, bytes.fromhex("deadbeef")),
    (b"{}", {}, {}),
    (b"{", {}, "{"),
    (b"", {}, None),
    ("42", {}, "42"),
    ("42", {"raw": True}, 42),
    ("foobar", {"raw": True}, "foobar"),
    (b"foobar", {"raw": True}, "foobar"),
    (b"", {"raw": True}, None),
]


@RANKS
def test_values_read_back_as_flux_decodes_them(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    for i, (value, kw, _expected) in enumerate(VALUES):
        kvs.put(h, f"v{i}", value, **kw)
    kvs.commit(h)
    for i, (_value, _kw, expected) in enumerate(VALUES):
        got = kvs.get(h, f"v{i}")
        assert got == expected and type(got) is type(expected), (i, got)


def test_put_rejects_what_flux_rejects(c: Cluster) -> None:
    h = Flux(cluster=c)
    with pytest.raises(AttributeError):
        kvs.put(h, "k", 1, raw=True)
    with pytest.raises(TypeError):
        kvs.put(h, "k", object())
    for fn, args in [
        (kvs.put, ("", 1)),
        (kvs.put_mkdir, ("",)),
        (kvs.put_unlink, ("",)),
        (kvs.put_symlink, ("", "x")),
        (kvs.get, ("",)),
        (kvs.get_dir, ("",)),
        (kvs.exists, ("",)),
        (kvs.isdir, ("",)),
        (kvs.kvs_watch_async, ("",)),
    ]:
        assert oserror(fn, h, *args) == "EINVAL", fn


@RANKS
def test_lookup_errors(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    put_commit(h, "a.val", 1)
    with pytest.raises(FileNotFoundError):
        kvs.get(h, "missing")
    assert oserror(kvs.get, h, "a.val.x") == "ENOENT"  # a path through a value
    assert oserror(kvs.get_dir, h, "a.val") == "ENOTDIR"
    assert oserror(kvs.get_dir, h, "nodir") == "ENOENT"
    assert oserror(kvs.get_key_direct, h, "a") == "EISDIR"
    assert isinstance(kvs.get(h, "a"), kvs.KVSDir)
    assert oserror(kvs.get, h, "a", namespace="nosuchns") == "ENOTSUP"
    kvs.put(h, "x", 1)
    assert oserror(kvs.commit, h, namespace="nosuchns") == "ENOTSUP"
    assert oserror(kvs.exists, h, "a", namespace="nosuchns") == "ENOTSUP"


@RANKS
def test_exists_and_isdir_never_raise_for_missing_keys(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    put_commit(h, "d.v", 1)
    assert [kvs.exists(h, k) for k in ("d", "d.v", "nope", "d.v.x", "nope.x")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [kvs.isdir(h, k) for k in ("d", "d.v", "nope", "d.v.x")] == [True, False, False, False]


@RANKS
def test_failed_commit_clears_the_pending_transaction(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    kvs.put(h, ".", "root")
    assert h._kvs_txn is not None
    assert oserror(kvs.commit, h) == "EINVAL"
    assert h._kvs_txn is None and h.aux_txn is None
    version = kvs.get_version(h)
    kvs.commit(h)  # nothing staged: nothing sent
    assert kvs.get_version(h) == version
    put_commit(h, "after", 1)
    assert kvs.get(h, "after") == 1


@RANKS
def test_mkdir_unlink_symlink(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    kvs.put_mkdir(h, "dir")
    kvs.put(h, "target", 7)
    kvs.put_symlink(h, "link", "target")
    kvs.put_symlink(h, "dangling", "nothing")
    kvs.put_unlink(h, "never-existed")
    kvs.commit(h, constants.FLUX_KVS_NO_MERGE)
    assert kvs.isdir(h, "dir") and kvs.get(h, "link") == 7
    assert not kvs.exists(h, "dangling")
    kvs.put_unlink(h, "target")
    kvs.commit(h, constants.FLUX_KVS_TXN_COMPACT)
    assert not kvs.exists(h, "target") and not kvs.exists(h, "link")


def test_checkpoint_after_a_sync_commit(c: Cluster) -> None:
    h = Flux(cluster=c, rank=5)
    assert oserror(kvs.kvs_checkpoint_lookup, h) == "ENOENT"
    kvs.put(h, "k", 1)
    kvs.commit(h, constants.FLUX_KVS_SYNC)
    [cp] = kvs.kvs_checkpoint_lookup(h, cache_bypass=True)
    assert cp["version"] == 1 and cp["sequence"] == kvs.get_version(h)
    assert cp["rootref"] == kvs.getroot(h)["blobref"] and "timestamp" in cp


# -- versions and the commit response --------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "behind"), [("observed", 1), ("documented", 0)], ids=["observed", "documented"]
)
def test_commit_response_on_a_follower(mode: str, behind: int) -> None:
    c = Cluster(size=8, fanout=2, seed=1, config=RankConfig(commit_response=mode))
    leader, follower = Flux(cluster=c, rank=0), Flux(cluster=c, rank=5)
    for h, lag in ((leader, 0), (follower, behind)):
        kvs.put(h, "x", h.get_rank())
        fut = kvs.commit_async(h)
        assert fut.get() is None
        version = kvs.get_version(h)
        assert fut.get_sequence() == version - lag
        assert fut.get_treeobj()["type"] == "dirref"


def test_get_version_after_commit_is_the_safe_hand_off() -> None:
    # Slow links, so the setroot is still on its way to rank 7 (two hops below the
    # writer) while the reader makes its three calls.
    c = Cluster(size=8, fanout=2, seed=1, latency="const:200us")
    writer, reader = Flux(cluster=c, rank=1), Flux(cluster=c, rank=7)
    put_commit(writer, "x", "old")
    c.run()
    assert kvs.get(reader, "x") == "old"  # the reader's cache now holds the old tree
    kvs.put(writer, "x", "new")
    fut = kvs.commit_async(writer)
    fut.get()
    reported, safe = fut.get_sequence(), kvs.get_version(writer)
    assert reported == safe - 1
    kvs.wait_version(reader, reported)
    assert kvs.get(reader, "x") == "old"  # the reported version does not include the write
    kvs.wait_version(reader, safe)
    assert kvs.get(reader, "x") == "new"


@RANKS
def test_wait_version_and_getroot(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    put_commit(h, "k", 1)
    version = kvs.get_version(h)
    assert kvs.wait_version(h, version) is None
    root = kvs.getroot(h)
    assert root["sequence"] == version and root["owner"] == 0
    assert root["treeobj"] == {"ver": 1, "type": "dirref", "data": [root["blobref"]]}
    start = c.now
    with pytest.raises(TimeoutError) as info:
        kvs.wait_version(h, version + 5, timeout=0.25)
    assert info.value.errno == errno.ETIMEDOUT and c.now - start == pytest.approx(0.25, abs=1e-3)


def test_future_wait_for_times_out(c: Cluster) -> None:
    h = Flux(cluster=c, rank=5)
    fut = kvs.commit_async(h)
    assert oserror(fut.wait_for, 0.0) == "ETIMEDOUT" and not fut.is_ready()
    assert fut.wait_for(1.0).is_ready() and fut.get() is None


# -- namespaces --------------------------------------------------------------------------


@RANKS
def test_namespaces(c: Cluster, rank: int, monkeypatch: Any) -> None:
    h = Flux(cluster=c, rank=rank)
    kvs.namespace_create(h, "ns1")
    assert oserror(kvs.namespace_create, h, "ns1") == "EEXIST"
    assert {"primary", "ns1"} <= set(kvs.namespace_list(h))
    put_commit(h, "k", "primary")
    kvs.put(h, "k", "ns1")
    kvs.commit(h, namespace="ns1")
    assert kvs.get(h, "k", namespace="ns1") == "ns1" and kvs.get(h, "k") == "primary"
    monkeypatch.setenv("FLUX_KVS_NAMESPACE", "ns1")
    assert kvs.get(h, "k") == "ns1" and kvs.get(h, "k", namespace="primary") == "primary"
    with kvs.KVSTxn(h) as txn:
        txn.put("viaenv", 1)
    monkeypatch.delenv("FLUX_KVS_NAMESPACE")
    assert kvs.get(h, "viaenv", namespace="ns1") == 1 and not kvs.exists(h, "viaenv")
    kvs.namespace_remove(h, "never-created")
    assert oserror(kvs.namespace_remove, h, "primary") == "ENOTSUP"
    kvs.namespace_remove(h, "ns1")
    c.run()
    assert "ns1" not in kvs.namespace_list(h)
    assert oserror(kvs.get, h, "k", namespace="ns1") == "ENOTSUP"


@RANKS
def test_namespace_permissions(c: Cluster, rank: int) -> None:
    owner, user, other = (Flux(cluster=c, rank=rank, userid=u) for u in (0, 1000, 2000))
    assert oserror(kvs.namespace_create, user, "mine") == "EPERM"
    assert oserror(kvs.namespace_list, user) == "EPERM"
    kvs.namespace_create(owner, "users", owner=1000)
    kvs.put(user, "a", 1)
    kvs.commit(user, namespace="users")
    assert kvs.get(user, "a", namespace="users") == 1
    assert kvs.get(owner, "a", namespace="users") == 1
    assert oserror(kvs.get, other, "a", namespace="users") == "EPERM"
    kvs.put(other, "a", 2)
    assert oserror(kvs.commit, other, namespace="users") == "EPERM"
    assert oserror(kvs.namespace_remove, user, "users") == "EPERM"
    kvs.dropcache(user)
    assert kvs.get(user, "a", namespace="users") == 1


# -- KVSDir, KVSTxn, walk ------------------------------------------------------------------


@RANKS
def test_kvsdir_reads_writes_and_snapshots(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    with pytest.raises(ValueError):
        kvs.KVSDir()
    with pytest.raises(FileNotFoundError):
        kvs.KVSDir(h, "nowhere")
    with kvs.get_dir(h) as kd:
        kd.mkdir("top", {"f1": 1, "f2": "two", "sub.deep": 3})
        kd["top.extra"] = [4]
    top = kvs.get_dir(h, "top")
    assert sorted(top) == ["extra", "f1", "f2", "sub"] and len(top) == 4
    assert sorted(top.files()) == ["extra", "f1", "f2"] and list(top.directories()) == ["sub"]
    assert top.list_all() == (["extra", "f1", "f2"], ["sub"])
    assert top["f2"] == "two" and top["sub"]["deep"] == 3 and top["sub.deep"] == 3
    assert top.key_at("f1") == "top.f1" and kvs.get_dir(h).key_at("x") == "x"
    assert top.exists("sub.deep") and not top.exists("f9")
    with pytest.raises(KeyError):
        top["f9"]
    top["sub"]["new"] = 5  # staged in the transaction shared with top
    del top["f1"]
    assert kvs.exists(h, "top.f1") and len(top) == 4  # nothing sent yet; snapshot unchanged
    top.commit()
    assert kvs.get(h, "top.sub.new") == 5 and not kvs.exists(h, "top.f1")
    top.fill({"g": 1, "h.i": 2})
    assert kvs.get(h, "top.h.i") == 2
    top.mkdir("m", {"z": 1})  # filled at top.m (Flux's binding would look for "m")
    assert kvs.get(h, "top.m.z") == 1
    top["async"] = "yes"
    top.commit_async().get()
    assert kvs.get(h, "top.async") == "yes"


@RANKS
def test_kvstxn(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    txn = kvs.KVSTxn(h)
    txn.mkdir("t")
    txn.put("t.a", 1)
    txn.put("t.b", "raw", raw=True)
    txn.symlink("t.link", "t.a")
    txn.commit()
    assert len(txn.txn) == 0 and kvs.get(h, "t.b") == "raw" and kvs.get(h, "t.link") == 1
    version = kvs.get_version(h)
    txn.commit()  # empty: no request
    assert kvs.get_version(h) == version
    rel = kvs.KVSTxn(h, "t")
    rel.put("c", 3)
    rel.unlink("a")
    rel.commit_async().get()
    assert kvs.get(h, "t.c") == 3 and not kvs.exists(h, "t.a")
    with kvs.KVSTxn(h, "t.") as ctx:
        ctx.put("d", 4)
    assert kvs.get(h, "t.d") == 4
    other = kvs.KVSTxn(h)
    kvs.put(h, "t.e", 5, _kvstxn=other)
    kvs.put_mkdir(h, "t.f", _kvstxn=other)
    assert h._kvs_txn is None  # staged in `other`, not on the handle
    kvs.commit(h, _kvstxn=other)
    assert kvs.get(h, "t.e") == 5 and kvs.isdir(h, "t.f")


@RANKS
def test_walk(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    with kvs.get_dir(h) as kd:
        kd.fill({"w.a": 1, "w.d1.b": 2, "w.d1.d2.c": 3, "w.d3.e": 4})

    def listing(gen: Any) -> list[tuple[str, list[str], list[str]]]:
        return [(p, sorted(ds), sorted(fs)) for p, ds, fs in gen]

    top = listing(kvs.walk("w", topdown=True, flux_handle=h))
    assert top == [
        ("", ["d1", "d3"], ["a"]),
        ("d1", ["d2"], ["b"]),
        ("d1.d2", [], ["c"]),
        ("d3", [], ["e"]),
    ]
    bottom = listing(kvs.walk(kvs.get_dir(h, "w")))
    assert [p for p, _, _ in bottom] == ["d1.d2", "d1", "d3", ""]
    assert kvs.join("a", "", "b.c") == "a.b.c"
    with pytest.raises(ValueError):
        kvs.walk("w")


# -- watches ---------------------------------------------------------------------------------


def change(h: Flux, key: str, value: Any) -> None:
    txn = kvs.KVSTxn(h)
    txn.put(key, value)
    kvs.commit_async(h, _kvstxn=txn)


@RANKS
def test_watch_then_cancel(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    put_commit(h, "w.val", 1)
    seen: list[Any] = []

    def cb(fut: kvs.KVSWatchFuture, arg: str) -> None:
        assert arg == "arg"
        value = fut.get()
        seen.append(value)
        if value == 1:
            change(h, "w.val", 2)
        elif value == 2:
            fut.cancel()

    fut = kvs.kvs_watch_async(h, "w.val")
    assert fut.then(cb, "arg") is fut
    assert oserror(fut.then, cb) == "EEXIST"
    assert h.reactor_run() == 0
    assert seen == [1, 2, None]


def test_watch_without_autoreset_and_sync_gets(c: Cluster) -> None:
    h = Flux(cluster=c, rank=5)
    put_commit(h, "k", 1)
    fut = kvs.kvs_watch_async(h, "k")
    assert fut.get(autoreset=False) == 1 and fut.get() == 1
    assert not fut.is_ready()
    change(h, "k", 2)
    assert fut.get() == 2
    fut.cancel()
    assert fut.get() is None and fut.get() is None
    assert oserror(kvs.kvs_watch_async(h, "missing").get) == "ENOENT"


@RANKS
def test_watch_flags(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    put_commit(h, "d.val", 1)
    kvs.put(h, "log", "a", raw=True)
    kvs.commit(h)
    plain = kvs.kvs_watch_async(h, "d.val")
    uniq = kvs.kvs_watch_async(h, "d.val", uniq=True)
    full = kvs.kvs_watch_async(h, "d.val", full=True)
    created = kvs.kvs_watch_async(h, "d.new", waitcreate=True)
    appended = kvs.kvs_watch_async(h, "log", append=True)
    # Let every watch answer before the next commit: a watch whose re-lookup is
    # still faulting objects in absorbs the roots that arrive meanwhile.
    c.run()
    for value in (1, 2):  # 1 again: a commit that does not change the value
        put_commit(h, "d.val", value)
        c.run()
    put_commit(h, "d.new", "here")
    txn = kvs.KVSTxn(h)
    txn.txn.append("log", "bc")
    txn.commit()
    c.run()
    put_commit(h, "d", None)  # replaces the parent directory
    c.run()

    def drain(fut: kvs.KVSWatchFuture) -> list[Any]:
        out = []
        while fut.is_ready():
            try:
                out.append(fut.get())
            except FileNotFoundError:
                out.append("ENOENT")
                break
            if out[-1] is None:
                break
        return out

    assert drain(plain) == [1, 1, 2]
    assert drain(uniq) == [1, 2]
    assert drain(full) == [1, 2, "ENOENT"]  # FULL compares, as UNIQ (Flux's kvs-watch)
    assert drain(created) == ["here"]
    assert drain(appended) == ["a", "bc"]
    for fut in (plain, uniq, created, appended):
        fut.cancel()
    c.run()
    assert [fut.get() for fut in (plain, uniq, created, appended)] == [None] * 4


def test_reactor_stop_and_then_timeout(c: Cluster) -> None:
    h = Flux(cluster=c, rank=3)
    put_commit(h, "k", 0)
    calls: list[Any] = []

    def cb(fut: kvs.KVSWatchFuture, arg: Any) -> None:
        calls.append(fut.get())
        change(h, "k", calls[-1] + 1)
        if len(calls) == 3:
            h.reactor_stop()

    watch = kvs.kvs_watch_async(h, "k").then(cb)
    h.reactor_run()
    assert calls == [0, 1, 2]
    watch.cancel(stop=True)
    h.reactor_run()
    assert calls == [0, 1, 2]
    silent = kvs.kvs_watch_async(h, "never", waitcreate=True)
    errors: list[str] = []
    silent.then(lambda fut, arg: errors.append(oserror(fut.get)), timeout=0.5)
    h.reactor_run()
    assert errors == ["ETIMEDOUT"]


def test_async_processes_use_the_same_api(c: Cluster) -> None:
    writer, watcher = Flux(cluster=c, rank=2), Flux(cluster=c, rank=6)
    put_commit(writer, "counter", 0)
    kvs.wait_version(watcher, kvs.get_version(writer))  # rank 6 is one hop behind rank 2
    assert kvs.get(watcher, "counter") == 0  # warm: the watch's first answer is immediate

    async def write() -> int:
        for i in range(1, 4):
            await c.sleep(0.01)
            kvs.put(writer, "counter", i)
            await kvs.commit_async(writer)
        fut = kvs.commit_async(writer, flags=constants.FLUX_KVS_NO_MERGE)
        await fut
        return fut.get_sequence()

    async def watch() -> list[Any]:
        seen = []
        stream = kvs.kvs_watch_async(watcher, "counter")
        seen.append(await stream)
        async for value in stream:
            seen.append(value)
            if value == 3:
                stream.cancel()
        return seen

    w, r = c.spawn(write()), c.spawn(watch())
    c.run()
    assert r.result() == [0, 1, 2, 3] and isinstance(w.result(), int)


def test_blocking_calls_inside_a_process_say_what_to_do(c: Cluster) -> None:
    h = Flux(cluster=c, rank=1)

    async def blocking() -> Any:
        return kvs.get(h, "x")

    task = c.spawn(blocking())
    c.run()
    with pytest.raises(RuntimeError, match="await commit_async"):
        task.result()
