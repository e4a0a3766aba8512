"""What flux-core's own Python KVS tests teach, checked on a simulated instance.

Error text as Flux's binding gives it (the C library's strerror, the key as the
exception's filename), ``TypeError`` for a wrong argument type naming the
argument, the reactor returning once nothing is left to wait for, and guests
committing only what Flux lets them.  Leader and a follower two hops down.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest

from kvs_sim.flux import Flux, constants, kvs
from kvs_sim.sim.cluster import Cluster

RANKS = pytest.mark.parametrize("rank", [0, 5], ids=["leader", "follower"])
GUEST = 1000


@pytest.fixture
def c() -> Cluster:
    return Cluster(size=8, fanout=2, seed=2)


@RANKS
def test_a_missing_key_reads_like_a_missing_file(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    with pytest.raises(FileNotFoundError) as info:
        kvs.get(h, "no.such.key")
    err = info.value
    assert (err.errno, err.strerror, err.filename) == (
        errno.ENOENT,
        "No such file or directory",
        "no.such.key",
    )
    assert str(err) == "[Errno 2] No such file or directory: 'no.such.key'"
    with pytest.raises(OSError, match="No such file"):
        kvs.KVSDir(h, "no.such.dir")
    kvs.put(h, "v", 1)
    kvs.commit(h)
    with pytest.raises(NotADirectoryError, match=r"Not a directory: 'v'"):
        kvs.get_dir(h, "v")
    with pytest.raises(OSError, match=r"\[Errno 22\] Invalid argument"):
        kvs.get(h, "")


@RANKS
def test_a_missing_namespace_keeps_its_name_in_the_message(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    with pytest.raises(OSError) as info:
        kvs.get(h, "k", namespace="nosuchns")
    assert info.value.errno == errno.EOPNOTSUPP
    assert info.value.strerror == "Operation not supported"
    assert "'nosuchns'" in str(info.value)
    assert str(info.value).startswith("[Errno 95] Operation not supported: ")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: kvs.wait_version(h, "a"), "wait_version() argument 'version' must be int"),
        (lambda h: kvs.wait_version(h, True), "argument 'version' must be int, not bool"),
        (lambda h: kvs.wait_version(h, 1, timeout="x"), "argument 'timeout' must be a number"),
        (lambda h: kvs.commit(h, flags="x"), "commit() argument 'flags' must be int, not str"),
        (lambda h: kvs.commit_async(h, "x"), "commit_async() argument 'flags' must be int"),
        (lambda h: kvs.put(h, 5, 1), "put() argument 'key' must be str, not int"),
        (lambda h: kvs.get(h, None), "get() argument 'key' must be str, not NoneType"),
        (lambda h: kvs.get(h, "k", namespace=3), "get() argument 'namespace' must be str"),
        (lambda h: kvs.put_symlink(h, "l", 7), "put_symlink() argument 'target' must be str"),
        (lambda h: kvs.namespace_create(h, "n", "me"), "argument 'owner' must be int"),
        (lambda h: kvs.kvs_watch_async(h, 1.5), "kvs_watch_async() argument 'key' must be str"),
    ],
)
def test_wrong_argument_types_are_type_errors_naming_the_argument(
    c: Cluster, call: Any, message: str
) -> None:
    h = Flux(cluster=c, rank=3)
    kvs.put(h, "pending", 1)  # a staged write survives the refused commit
    with pytest.raises(TypeError) as info:
        call(h)
    assert message in str(info.value)
    kvs.commit(h)
    assert kvs.get(h, "pending") == 1


@RANKS
def test_reactor_returns_once_nothing_is_left_to_wait_for(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    assert h.reactor_run() == 0  # nothing registered: returns at once
    kvs.put(h, "w", 1)
    kvs.commit(h)
    seen: list[Any] = []

    def cb(fut: kvs.KVSWatchFuture, arg: Any) -> None:
        seen.append(fut.get())
        if seen[-1] == 1:
            txn = kvs.KVSTxn(h)
            txn.put("w", 2)
            txn.commit_async()
        elif seen[-1] == 2:
            fut.cancel()

    kvs.kvs_watch_async(h, "w").then(cb)
    committed: list[Any] = []
    kvs.KVSTxn(h).commit_async()  # an empty commit, no continuation: not waited for
    done = kvs.commit_async(h, constants.FLUX_KVS_NO_MERGE)
    done.then(lambda fut, arg: committed.append(fut.get()))
    assert h.reactor_run() == 0
    assert seen == [1, 2, None] and committed == [None]
    assert h.reactor_run() == 0  # the watch ended, the commit answered: nothing left


def test_a_guest_commits_values_unlinks_and_empty_directories_only(c: Cluster) -> None:
    owner = Flux(cluster=c, rank=0)
    kvs.namespace_create(owner, "guestns", GUEST)
    guest = Flux(cluster=c, rank=5, userid=GUEST)
    kvs.put(guest, "a", {"x": 1})
    kvs.put_mkdir(guest, "d")
    kvs.commit(guest, namespace="guestns")
    kvs.put_unlink(guest, "a")
    kvs.commit(guest, namespace="guestns")
    kvs.put_symlink(guest, "link", "d")
    with pytest.raises(PermissionError) as info:
        kvs.commit(guest, namespace="guestns")
    assert "guests may not commit symlink objects" in str(info.value)
    assert kvs.isdir(guest, "d", namespace="guestns")
    assert not kvs.exists(guest, "link", namespace="guestns")
    kvs.put_symlink(owner, "link", "d")  # the instance owner may
    kvs.commit(owner, namespace="guestns")
    with pytest.raises(PermissionError):  # and the primary namespace is not the guest's
        kvs.put(guest, "p", 1)
        kvs.commit(guest)
