"""Applying transactions: every overwrite, unlink, append and root rule."""

import errno

import pytest
from core_tree_helpers import Tree

from kvs_sim.core import treeobj as T
from kvs_sim.core.apply import INLINE_MAX, apply_transactions, empty_root
from kvs_sim.core.content import MemoryStore, blobref
from kvs_sim.core.errors import (
    InvalidArgument,
    IsDirectory,
    MissingObject,
    NoSuchKey,
    NotSupported,
    ProtocolError,
    SymlinkLoop,
)
from kvs_sim.core.lookup import lookup
from kvs_sim.core.txn import Txn

EMPTY_DIR_REF = blobref(b'{"data":{},"type":"dir","ver":1}')


def test_empty_root_is_canonical_empty_dir() -> None:
    store = MemoryStore()
    assert empty_root(store) == EMPTY_DIR_REF
    assert store.load(EMPTY_DIR_REF) == b'{"data":{},"type":"dir","ver":1}'


def test_put_and_deep_put_create_parents(tree: Tree) -> None:
    res = tree.txn(lambda t: (t.put("a.b.c", 1), t.put("top", "x")))
    assert tree.get("a.b.c") == b"1"
    assert tree.get("top") == b'"x"'
    assert sorted(tree.get("a", "dir")) == ["b"]
    assert res.keys == ("a.b.c", "top")
    # root(2 entries) + a(1) + b(1) rewritten
    assert res.dirents_rewritten == 4
    assert res.rootref == tree.root
    assert res.rootref in res.new_refs
    assert all(ref in tree.store for ref in res.new_refs)


def test_keys_are_normalised_unique_sorted(tree: Tree) -> None:
    res = tree.txn(lambda t: (t.put("z..y.", 1), t.put("a", 1), t.put("z.y", 2), t.unlink("m")))
    assert res.keys == ("a", "m", "z.y")


def test_value_under_value_replaces_it_by_directory(tree: Tree) -> None:
    tree.txn(lambda t: t.put("k", 1))
    tree.txn(lambda t: t.put("k.sub", 2))
    assert tree.get("k.sub") == b"2"
    assert list(tree.get("k", "dir")) == ["sub"]


def test_value_over_directory_replaces_it(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("d.x", 1), t.put("d.y.z", 2)))
    tree.txn(lambda t: t.put("d", 3))
    assert tree.get("d") == b"3"
    with pytest.raises(NoSuchKey):
        tree.get("d.x")


def test_mkdir_replaces_and_empties(tree: Tree) -> None:
    tree.txn(lambda t: t.put("d.x", 1))
    tree.txn(lambda t: t.mkdir("d"))
    assert tree.get("d", "dir") == {}
    tree.txn(lambda t: t.mkdir("n.e.w"))
    assert tree.get("n.e.w", "dir") == {}


def test_unlink_rules(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("d.x", 1), t.put("d.y.z", 2), t.put("v", 3)))
    before = tree.root
    # missing key, path under missing dir, path through a value: all succeed, no change
    res = tree.txn(lambda t: (t.unlink("nope"), t.unlink("no.such.dir"), t.unlink("v.x")))
    assert res.rootref == before
    assert res.keys == ("no.such.dir", "nope", "v.x")
    assert res.dirents_rewritten == 0
    # non-empty directory
    tree.txn(lambda t: t.unlink("d"))
    with pytest.raises(NoSuchKey):
        tree.get("d")
    assert list(tree.get(".", "dir")) == ["v"]


def test_root_writes_are_einval(tree: Tree) -> None:
    for build in (
        lambda t: t.put(".", 1),
        lambda t: t.put("...", 1),
        lambda t: t.unlink("."),
        lambda t: t.mkdir("."),
        lambda t: t.append(".", b"x"),
    ):
        t = Txn()
        build(t)
        with pytest.raises(InvalidArgument) as info:
            tree.commit(t)
        assert info.value.errno == errno.EINVAL
        assert "root" in str(info.value)


def test_failed_batch_is_atomic_and_names_txn(tree: Tree) -> None:
    tree.txn(lambda t: t.put("a", 1))
    before = tree.root
    good, bad = Txn(), Txn()
    good.put("a", 2)
    good.put("b.c", 3)
    bad.put("x", 1)
    bad.put(".", 2)
    with pytest.raises(InvalidArgument) as info:
        apply_transactions(tree.store, before, [good.ops, bad.ops])
    assert info.value.txn_index == 1
    assert tree.root == before
    assert tree.get("a") == b"1"
    with pytest.raises(NoSuchKey):
        tree.get("b.c")


def test_append_rules(tree: Tree) -> None:
    tree.txn(lambda t: t.append("log", b"a"))  # missing: created as a plain val
    assert tree.get("log", "treeobj") == T.val(b"a")
    tree.txn(lambda t: t.append("log", b"b"))  # val -> valref of two blobs
    obj = tree.get("log", "treeobj")
    assert obj == T.valref([blobref(b"a"), blobref(b"b")])
    tree.txn(lambda t: t.append("log", b"c"))  # valref grows by one blob
    assert tree.get("log", "treeobj")["data"] == [blobref(c) for c in (b"a", b"b", b"c")]
    assert tree.get("log") == b"abc"
    tree.txn(lambda t: t.mkdir("d"))
    with pytest.raises(IsDirectory):
        tree.txn(lambda t: t.append("d", b"x"))
    tree.txn(lambda t: t.symlink("l", "log"))
    with pytest.raises(NotSupported):
        tree.txn(lambda t: t.append("l", b"x"))


def test_append_within_one_txn_and_compact(tree: Tree) -> None:
    tree.txn(lambda t: (t.append("e", b"1"), t.append("e", b"2"), t.append("e", b"3")))
    assert tree.get("e") == b"123"
    assert len(tree.get("e", "treeobj")["data"]) == 3
    tree.txn(lambda t: (t.append("f", b"1"), t.append("f", b"2")), compact=True)
    assert tree.get("f", "treeobj") == T.val(b"12")
    with pytest.raises(InvalidArgument):
        tree.txn(lambda t: (t.append("g", b"1"), t.put("g", 2)), compact=True)


def test_inline_threshold(tree: Tree) -> None:
    assert INLINE_MAX == 54
    small, big = b"s" * INLINE_MAX, b"b" * (INLINE_MAX + 1)
    res = tree.txn(lambda t: (t.put_raw("small", small), t.put_raw("big", big)))
    assert tree.get("small", "treeobj") == T.val(small)
    assert tree.get("big", "treeobj") == T.valref([blobref(big)])
    assert blobref(big) in res.new_refs
    assert tree.get("big") == big
    tree.txn(lambda t: t.put_raw("tiny", b"xy"), inline_max=1)
    assert tree.get("tiny", "treeobj")["type"] == "valref"
    tree.txn(lambda t: t.put_raw("nothing", b""), inline_max=0)
    assert tree.get("nothing", "treeobj") == T.val(b"")


def test_symlink_in_write_path_is_followed(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("real.x", 1), t.symlink("link", "real")))
    tree.txn(lambda t: t.put("link.y", 2))
    assert tree.get("real.y") == b"2"
    assert tree.get("link", "readlink") == (None, "real")
    tree.txn(lambda t: t.unlink("link.x"))
    with pytest.raises(NoSuchKey):
        tree.get("real.x")
    # writing the link itself replaces the link, not its target
    tree.txn(lambda t: t.put("link", 3))
    assert tree.get("link") == b"3"
    assert sorted(tree.get("real", "dir")) == ["y"]


def test_symlink_write_into_other_namespace_is_einval(tree: Tree) -> None:
    tree.txn(lambda t: (t.symlink("other", "a", namespace="ns2"), t.symlink("me", "d", "primary")))
    with pytest.raises(InvalidArgument, match="ns2"):
        tree.txn(lambda t: t.put("other.x", 1))
    tree.txn(lambda t: t.put("me.x", 1), namespace="primary")
    assert tree.get("d.x") == b"1"


def test_symlink_loop_in_write_path(tree: Tree) -> None:
    tree.txn(lambda t: (t.symlink("a", "b"), t.symlink("b", "a")))
    with pytest.raises(SymlinkLoop):
        tree.txn(lambda t: t.put("a.x", 1))


def test_identical_content_gives_identical_root(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("a.b", 1), t.put("c", 2), t.mkdir("e")))
    other = Tree()
    other.txn(lambda t: (t.mkdir("e"), t.put("c", 2)))
    other.txn(lambda t: t.put("a.b", 1))
    assert other.root == tree.root
    # rewriting the same value stores nothing new above the leaf
    res = tree.txn(lambda t: t.put("a.b", 1))
    assert res.rootref == other.root


def test_untouched_subtrees_are_not_loaded(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("big.x", 1), t.put("small.y", 2)))
    loads = tree.store.stats.loads
    tree.txn(lambda t: t.put("small.z", 3))
    assert tree.store.stats.loads - loads == 2  # root and small only


def test_missing_object_stalls() -> None:
    store = MemoryStore()
    root = empty_root(store)
    t = Txn()
    t.put("a.b", 1)
    root = apply_transactions(store, root, [t.ops]).rootref
    a_ref = T.decode(store.load(root))["data"]["a"]["data"][0]

    class Partial:
        def store(self, data: bytes) -> str:
            return store.store(data)

        def load(self, ref: str) -> bytes | None:
            return None if ref == a_ref else store.load(ref)

    t2 = Txn()
    t2.put("a.c", 2)
    with pytest.raises(MissingObject) as info:
        apply_transactions(Partial(), root, [t2.ops])
    assert info.value.ref == a_ref


def test_corrupt_objects_are_eproto() -> None:
    store = MemoryStore()
    val_ref = store.store(T.encode(T.val(b"x")))
    t = Txn()
    t.put("a", 1)
    with pytest.raises(ProtocolError):
        apply_transactions(store, val_ref, [t.ops])
    garbage = store.store(b"not json")
    with pytest.raises(ProtocolError):
        apply_transactions(store, garbage, [t.ops])
    with pytest.raises(NoSuchKey):
        apply_transactions(store, blobref(b"absent"), [t.ops])
    bad_entry = store.store(T.encode({"ver": 1, "type": "dir", "data": {"a": {"ver": 7}}}))
    t2 = Txn()
    t2.put("a.b", 1)
    with pytest.raises(ProtocolError):
        apply_transactions(store, bad_entry, [t2.ops])


def test_put_inline_dir_treeobj(tree: Tree) -> None:
    big = b"q" * 100
    d = T.dir_({"x": T.val(b"1"), "sub": T.dir_({"y": T.val(big)})})
    tree.txn(lambda t: t.put_treeobj("copy", d))
    assert tree.get("copy.x") == b"1"
    assert tree.get("copy.sub.y") == big
    assert tree.get("copy.sub", "treeobj")["type"] == "dirref"
    assert tree.get("copy.sub.y", "treeobj")["type"] == "valref"


def test_copy_by_dirref(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("src.a", 1), t.put("src.b.c", 2)))
    obj = tree.get("src", "treeobj")
    tree.txn(lambda t: t.put_treeobj("dst", obj))
    assert tree.get("dst.b.c") == b"2"
    tree.txn(lambda t: t.put("dst.a", 9))
    assert tree.get("src.a") == b"1"


def test_empty_batch_keeps_root(tree: Tree) -> None:
    before = tree.root
    res = tree.commit()
    assert res.rootref == before
    assert res.keys == ()
    assert res.new_refs == ()
    res = tree.commit([])
    assert res.rootref == before


def test_apply_without_cache_and_old_roots_stay_intact(tree: Tree) -> None:
    tree.txn(lambda t: t.put("d.x", 1))
    old_root = tree.root
    tree.txn(lambda t: t.put("d.y", 2), cache=None)
    tree.txn(lambda t: (t.put("d.z", 3), t.unlink("d.x")))
    assert sorted(tree.get("d", "dir")) == ["y", "z"]
    # editing a (cached, shared) decoded directory never changes an older root
    assert sorted(lookup(tree.load, old_root, "d", want="dir")) == ["x"]
