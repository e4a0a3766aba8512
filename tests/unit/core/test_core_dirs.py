"""Large directories kept as lineages (core.dirs): same bytes, same blobrefs, same
lookups at every old root as plain encoding."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvs_sim.core import dirs
from kvs_sim.core import treeobj as T
from kvs_sim.core.apply import apply_transactions, empty_root
from kvs_sim.core.content import LazyBlob, MemoryStore, SQLiteStore, as_bytes
from kvs_sim.core.errors import KVSError
from kvs_sim.core.lookup import lookup
from kvs_sim.core.txn import Txn


class LazyStore(MemoryStore):
    """Like the leader's content: ``load`` answers what is held (DirBlob or bytes)."""

    def load(self, ref: str) -> Any:
        return self._blobs[ref]


class PlainStore(MemoryStore):
    accepts_lazy = False


def test_fragments_join_into_the_canonical_encoding() -> None:
    entries = {f"k{i}": T.val(str(i).encode()) for i in (3, 1, 20, 2)}
    entries["é"] = T.symlink("a.b")
    entries["sub"] = T.dirref("sha1-" + "0" * 40)
    blob = dirs.create(entries)
    canonical = T.encode({"ver": 1, "type": "dir", "data": entries})
    assert bytes(blob) == canonical
    assert len(blob) == len(canonical)
    assert blob.ref == MemoryStore().store(canonical)
    assert blob.tree_object() == T.decode(canonical, deep=False)


@pytest.mark.parametrize("load", [2, 256])
def test_old_versions_are_rebuilt_from_the_head(load: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dirs, "_LOAD", load)
    v0 = dirs.create({f"k{i}": T.val(b"x") for i in range(10)})
    v1 = dirs.derive(v0, {"k3": None, "a": T.val(b"new")})
    v2 = dirs.derive(v1, {"k5": T.val(b"changed"), "zz": T.val(b"z")})
    assert not v0.is_head and not v1.is_head and v2.is_head
    assert dirs.derive(v2, {"k5": T.val(b"changed")}) is v2  # no change, no version
    expect0 = {f"k{i}": T.val(b"x") for i in range(10)}
    expect1 = {k: v for k, v in expect0.items() if k != "k3"} | {"a": T.val(b"new")}
    expect2 = expect1 | {"k5": T.val(b"changed"), "zz": T.val(b"z")}
    for blob, expect in ((v0, expect0), (v1, expect1), (v2, expect2)):
        assert bytes(blob) == T.encode({"ver": 1, "type": "dir", "data": expect})
        assert blob.count == len(expect)
    with pytest.raises(ValueError, match="head"):
        dirs.derive(v1, {"b": T.val(b"")})


def test_stores_keep_or_write_lazy_blobs(tmp_path: Any) -> None:
    blob = dirs.create({f"k{i}": T.val(b"v") for i in range(5)})
    mem = MemoryStore()
    assert mem.store(blob) == blob.ref
    assert isinstance(mem._blobs[blob.ref], LazyBlob)  # held as it is
    assert mem.load(blob.ref) == bytes(blob)  # load answers bytes
    with SQLiteStore(tmp_path / "c.db") as db:
        assert db.store(blob) == blob.ref
        assert db.load(blob.ref) == bytes(blob)
    with pytest.raises(KVSError, match="sha256"):
        MemoryStore("sha256").store(blob)
    assert as_bytes(b"x") == b"x"


NAMES = st.sampled_from([f"k{i}" for i in range(12)] + ["sub.a", "sub.b", "sub2.c"])
OPS = st.lists(
    st.tuples(st.sampled_from(["put", "unlink", "append", "mkdir"]), NAMES, st.integers(0, 3)),
    min_size=1,
    max_size=4,
)


def _txn(ops: list[tuple[str, str, int]]) -> Txn:
    t = Txn()
    for kind, name, value in ops:
        key = f"d.{name}"
        if kind == "put":
            t.put(key, value)
        elif kind == "unlink":
            t.unlink(key)
        elif kind == "append":
            t.append(key, str(value))
        else:
            t.mkdir(key)
    return t


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(OPS, min_size=1, max_size=3), min_size=1, max_size=25))
def test_lineages_give_the_plain_blobrefs_and_lookups(
    batches: list[list[list[tuple[str, str, int]]]],
) -> None:
    old_min, old_load = dirs.FRAGMENT_MIN, dirs._LOAD
    dirs.FRAGMENT_MIN = 3  # small directories become lineages too,
    dirs._LOAD = 2  # of many blocks that split and empty out
    try:
        lazy, plain = LazyStore(), PlainStore()
        roots = [(empty_root(lazy), empty_root(plain))]
        for batch in batches:
            txns = [_txn(ops).ops for ops in batch]
            outcome = []
            for store, root in ((lazy, roots[-1][0]), (plain, roots[-1][1])):
                try:
                    res = apply_transactions(store, root, txns)
                    outcome.append((res.rootref, res.dirents_rewritten, res.keys))
                except KVSError as err:  # failures leave the old root valid
                    outcome.append((root, -1, (type(err).__name__, err.txn_index)))
            assert outcome[0] == outcome[1]
            roots.append((outcome[0][0], outcome[1][0]))
        for ref in plain._blobs:  # every object, old versions included, byte for byte
            assert as_bytes(lazy._blobs[ref]) == plain._blobs[ref]
        for a, b in roots:  # lookups at every old root (snapshots)
            assert _walk(lazy, a, ".") == _walk(plain, b, ".")
    finally:
        dirs.FRAGMENT_MIN, dirs._LOAD = old_min, old_load


def _walk(store: MemoryStore, root: str, key: str) -> Any:
    """Everything under ``key`` at ``root``, through lookups."""
    kind, data = lookup(store.load, root, key, want="any")
    if kind != "dir":
        return data
    return {name: _walk(store, root, name if key == "." else f"{key}.{name}") for name in data}


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_keep_every_version_canonical(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    monkeypatch.setattr(dirs, "_LOAD", 2)  # blocks split and empty out all the time
    rng = random.Random(seed)
    state = {f"n{i}": T.val(b"0") for i in range(8)}
    head = dirs.create(state)
    versions = [(head, dict(state))]
    for step in range(300):
        changes: dict[str, Any] = {}
        for _ in range(rng.randint(1, 4)):
            name = f"n{rng.randrange(30)}"
            changes[name] = None if rng.random() < 0.45 else T.val(str(step).encode())
        head = dirs.derive(head, changes)
        for name, new in changes.items():
            if new is None:
                state.pop(name, None)
            else:
                state[name] = new
        canonical = T.encode({"ver": 1, "type": "dir", "data": state})
        assert head.ref == MemoryStore().store(canonical)
        assert len(head) == len(canonical) and head.count == len(state)
        versions.append((head, dict(state)))
    for blob, expect in versions[::7]:  # old versions rebuilt from the head
        assert bytes(blob) == T.encode({"ver": 1, "type": "dir", "data": expect})
