"""Apply primes the decode cache with the directories it stores: what it puts there
must be exactly what decoding the stored bytes gives, and private."""

from __future__ import annotations

import json
from typing import Any

from kvs_sim.core import treeobj as T
from kvs_sim.core.apply import apply_transactions, empty_root
from kvs_sim.core.content import MemoryStore
from kvs_sim.core.flags import APPEND
from kvs_sim.core.txn import Txn


def _cached(cache: T.DecodeCache, ref: str) -> dict[str, Any] | None:
    hit = cache._memo.get(ref)
    return None if hit is None else hit[1]


def _varied_txns() -> list[Txn]:
    out = []
    t = Txn()
    t.put("z.b", 1)
    t.put("a.y.x", "v")
    t.put_raw("big", b"x" * 100)  # a valref
    t.symlink("ln", "a.y", namespace="other")
    t.symlink("ln2", "z")
    out.append(t)
    t = Txn()
    t.append("log", b"one")
    t.append("log", b"two")  # val -> valref of two blobs
    t.mkdir("m")
    t.put("z.a", 2)  # a new name sorts before an existing one
    t.put_treeobj("copy", {"type": "val", "data": "MQ==", "ver": 1, "size": 1})
    out.append(t)
    t = Txn()
    t.put_treeobj("tree", T.dir_({"q": T.val(b"1"), "p": T.symlink("a")}))
    t.unlink("z.b")
    t.append("log", b"three")
    out.append(t)
    return out


def test_primed_directories_are_exactly_what_decoding_gives() -> None:
    store, cache = MemoryStore(), T.DecodeCache()
    root = empty_root(store)
    primed = 0
    for t in _varied_txns():
        res = apply_transactions(store, root, [t.ops], cache=cache)
        root = res.rootref
        for ref in res.new_refs:
            obj = _cached(cache, ref)
            if obj is None:
                continue  # a value blob
            primed += 1
            decoded = T.decode(store.load(ref), deep=False)
            assert obj == decoded
            # key order too, at every level (a listing or a reply shows it)
            assert json.dumps(obj) == json.dumps(decoded)
    assert primed >= 6


def test_next_batch_finds_the_root_decoded() -> None:
    store, cache = MemoryStore(), T.DecodeCache()
    root = empty_root(store)
    for i in range(5):
        t = Txn()
        t.put(f"d.k{i}", i)
        root = apply_transactions(store, root, [t.ops], cache=cache).rootref
    misses = cache.misses
    t = Txn()
    t.put("d.k9", 9)
    apply_transactions(store, root, [t.ops], cache=cache)
    assert cache.misses == misses  # root and d were primed by the batch before


def test_primed_objects_share_nothing_with_the_ops() -> None:
    store, cache = MemoryStore(), T.DecodeCache()
    link = T.symlink("a.b", namespace="ns")
    refs = [store.store(b"blob")]
    ops: list[dict[str, Any]] = [
        {"key": "v", "flags": 0, "dirent": T.val(b"1")},
        {"key": "l", "flags": 0, "dirent": link},
        {"key": "r", "flags": 0, "dirent": {"ver": 1, "type": "valref", "data": refs}},
        {"key": "log", "flags": APPEND, "dirent": T.val(b"2")},
    ]
    res = apply_transactions(store, empty_root(store), [ops], cache=cache)
    before = json.dumps(_cached(cache, res.rootref))
    link["data"]["target"] = "x"  # the containers inside, in place
    refs.append("more")
    for op in ops:
        op["dirent"]["type"] = "changed"
    assert json.dumps(_cached(cache, res.rootref)) == before


def test_prime_replaces_and_respects_the_bounds() -> None:
    cache = T.DecodeCache(max_objects=2, max_bytes=1000)
    blobs = [T.encode(T.val(bytes([i]))) for i in range(3)]
    for i, b in enumerate(blobs):
        cache.prime(f"r{i}", b, T.decode(b))
    assert len(cache) == 2
    assert _cached(cache, "r0") is None
    obj = T.decode(blobs[2])
    cache.prime("r2", blobs[2], obj)
    assert cache.decode("r2", blobs[2]) is obj
    assert (cache.hits, cache.misses) == (1, 0)
    small = T.DecodeCache(max_bytes=10)
    small.prime("r0", blobs[0], T.decode(blobs[0]))  # larger than the budget
    assert len(small) == 0
