"""Lookups: wants, errors, symlinks (relative, absolute, cross-namespace, loops), stalls."""

import errno
from typing import Any

import pytest
from core_tree_helpers import Tree

from kvs_sim.core import treeobj as T
from kvs_sim.core.errors import (
    InvalidArgument,
    IsDirectory,
    MissingObject,
    MissingRoot,
    NoSuchKey,
    NotDirectory,
    NotSupported,
    ProtocolError,
    Stall,
    SymlinkLoop,
)
from kvs_sim.core.lookup import lookup, lookup_kind


@pytest.fixture
def full(tree: Tree) -> Tree:
    tree.txn(
        lambda t: (
            t.put("a.b.c", 42),
            t.put_raw("a.raw", b"\x00\x01"),
            t.put_raw("big", b"B" * 200),
            t.mkdir("empty"),
            t.append("log", b"one\n"),
            t.append("log", b"two\n"),
            t.symlink("abs", "a.b"),
            t.symlink("rel", "b"),  # "b" is resolved from the root, not from the link's dir
            t.symlink("a.inner", "a.b.c"),
            t.symlink("dangling", "no.such"),
            t.symlink("tolink", "abs"),
        )
    )
    return tree


def test_value_wants(full: Tree) -> None:
    assert full.get("a.b.c") == b"42"
    assert full.get("a..b.c.") == b"42"
    assert full.get("a.raw") == b"\x00\x01"
    assert full.get("big") == b"B" * 200
    assert full.get("log") == b"one\ntwo\n"
    assert full.get("a.b.c", "any") == ("val", b"42")
    assert full.get("a.b.c", "treeobj") == T.val(b"42")


def test_dir_wants(full: Tree) -> None:
    listing = full.get("a", "dir")
    assert sorted(listing) == ["b", "inner", "raw"]
    assert listing["b"]["type"] == "dirref"
    listing["junk"] = 1  # a private copy: the next lookup is unaffected
    assert "junk" not in full.get("a", "dir")
    kind, entries = full.get("a.b", "any")
    assert kind == "dir"
    assert list(entries) == ["c"]
    assert full.get("empty", "dir") == {}
    assert full.get("a", "treeobj")["type"] == "dirref"
    root = full.get(".", "dir")
    assert {"a", "big", "empty", "log", "abs"} <= set(root)
    assert full.get(".", "treeobj") == T.dirref(full.root)


def test_error_cases(full: Tree) -> None:
    cases: list[tuple[str, str, type[Exception], int]] = [
        ("missing", "value", NoSuchKey, errno.ENOENT),
        ("no.such.dir", "value", NoSuchKey, errno.ENOENT),
        ("a.b.c.x", "value", NoSuchKey, errno.ENOENT),  # through a value
        ("a.b.c.x", "dir", NoSuchKey, errno.ENOENT),
        ("dangling", "value", NoSuchKey, errno.ENOENT),
        ("dangling", "dir", NoSuchKey, errno.ENOENT),
        ("a.b", "value", IsDirectory, errno.EISDIR),
        (".", "value", IsDirectory, errno.EISDIR),
        ("a.b.c", "dir", NotDirectory, errno.ENOTDIR),
        ("log", "dir", NotDirectory, errno.ENOTDIR),
        ("a.b.c", "readlink", InvalidArgument, errno.EINVAL),
        ("a", "readlink", InvalidArgument, errno.EINVAL),
        (".", "readlink", InvalidArgument, errno.EINVAL),
    ]
    for key, want, exc, num in cases:
        with pytest.raises(exc) as info:
            full.get(key, want)
        assert info.value.errno == num, (key, want)
        assert repr(key.strip(".") or ".")[1:-1] in str(info.value)


def test_empty_tree_root(tree: Tree) -> None:
    with pytest.raises(IsDirectory):
        tree.get(".")
    assert tree.get(".", "dir") == {}
    assert tree.get(".", "any") == ("dir", {})


def test_invalid_key_and_want(full: Tree) -> None:
    with pytest.raises(InvalidArgument, match="invalid key ''"):
        full.get("")
    with pytest.raises(InvalidArgument, match="want"):
        full.get("a", "bogus")


def test_symlinks_absolute_and_relative(full: Tree) -> None:
    assert full.get("abs", "dir") == full.get("a.b", "dir")
    assert full.get("abs.c") == b"42"
    assert full.get("tolink.c") == b"42"  # a link to a link
    # targets are keys from the root: "rel" -> "b", which does not exist
    with pytest.raises(NoSuchKey):
        full.get("rel", "dir")
    assert full.get("a.inner") == b"42"
    assert full.get("abs", "readlink") == (None, "a.b")
    assert full.get("a.inner", "readlink") == (None, "a.b.c")
    assert full.get("abs", "treeobj")["type"] == "symlink"  # the link itself, as FLUX_KVS_TREEOBJ
    assert full.get("abs.c", "treeobj")["type"] == "val"  # links inside a path are followed
    # readlink only stops at the *final* component
    full.txn(lambda t: t.symlink("a.b.lnk", "x.y"))
    assert full.get("abs.lnk", "readlink") == (None, "x.y")


def test_relative_target_resolves_from_root(tree: Tree) -> None:
    tree.txn(
        lambda t: (t.put("dir.sibling", 1), t.put("sibling", 2), t.symlink("dir.l", "sibling"))
    )
    assert tree.get("dir.l") == b"2"


def test_symlink_to_root(tree: Tree) -> None:
    tree.txn(lambda t: (t.put("x", 1), t.symlink("top", ".")))
    assert tree.get("top.x") == b"1"
    assert sorted(tree.get("top", "dir")) == ["top", "x"]


def test_symlink_loops(tree: Tree) -> None:
    tree.txn(lambda t: (t.symlink("self", "self"), t.symlink("p", "q"), t.symlink("q", "p.x")))
    for key in ("self", "p", "q.y"):
        with pytest.raises(SymlinkLoop) as info:
            tree.get(key)
        assert info.value.errno == errno.ELOOP
    with pytest.raises(SymlinkLoop):
        lookup_kind(tree.load, tree.root, "self", follow=True)
    assert tree.get("self", "readlink") == (None, "self")


def test_symlink_depth_limit(tree: Tree) -> None:
    def chain(t: Any) -> None:
        t.put("v", 1)
        t.symlink("l0", "v")
        for i in range(1, 12):
            t.symlink(f"l{i}", f"l{i - 1}")

    tree.txn(chain)
    assert tree.get("l9") == b"1"  # 10 links deep
    with pytest.raises(SymlinkLoop):
        tree.get("l10")  # 11 links deep
    assert tree.get("l10", max_depth=11) == b"1"


def test_cross_namespace_symlinks(tree: Tree) -> None:
    other = Tree()
    other.store = tree.store  # same content store
    other.root = tree.root
    other.txn(lambda t: (t.put("data.v", 7), t.symlink("back", "home", namespace="primary")))
    tree.txn(
        lambda t: (
            t.put("home", 1),
            t.symlink("x", "data", namespace="ns2"),
            t.symlink("self", "home", namespace="primary"),
        )
    )
    roots = {"ns2": other.root, "primary": tree.root}
    calls: list[str] = []

    def resolve(ns: str) -> str:
        calls.append(ns)
        if ns not in roots:
            raise MissingRoot(ns)
        return roots[ns]

    assert tree.get("x.v", resolve_ns=resolve) == b"7"
    assert tree.get("x", "dir", resolve_ns=resolve)["v"]["type"] == "val"
    assert tree.get("x", "readlink") == ("ns2", "data")
    # a link back into primary, followed from ns2
    assert tree.get("x", resolve_ns=resolve, want="dir") is not None
    assert lookup(tree.load, other.root, "back", resolve_ns=resolve) == b"1"
    # naming the lookup's own namespace keeps the given root
    calls.clear()
    assert tree.get("self", namespace="primary", resolve_ns=resolve) == b"1"
    assert calls == []
    with pytest.raises(NotSupported):
        tree.get("x.v")  # no resolver
    tree.txn(lambda t: t.symlink("gone", "k", namespace="nope"))
    with pytest.raises(MissingRoot) as info:
        tree.get("gone", resolve_ns=resolve)
    assert info.value.ns == "nope"
    assert isinstance(info.value, Stall)


def test_missing_objects_stall_with_the_right_ref(full: Tree) -> None:
    a_ref = full.get("a", "treeobj")["data"][0]
    b_ref = full.get("a.b", "treeobj")["data"][0]
    big_refs = full.get("big", "treeobj")["data"]
    log_refs = full.get("log", "treeobj")["data"]

    def lacking(*absent: str) -> Any:
        return lambda ref: None if ref in absent else full.store.load(ref)

    for key, absent, want_ref in [
        ("a.b.c", (a_ref,), a_ref),
        ("a.b.c", (b_ref,), b_ref),
        ("abs.c", (b_ref,), b_ref),
        ("big", (big_refs[0],), big_refs[0]),
        (".", (full.root,), full.root),
    ]:
        with pytest.raises(MissingObject) as info:
            want = "dir" if key == "." else "value"
            lookup(lacking(*absent), full.root, key, want=want)
        assert info.value.ref == want_ref
        assert not isinstance(info.value, OSError)
    with pytest.raises(MissingObject) as info:
        lookup(lacking(*log_refs), full.root, "log")
    assert info.value.refs == tuple(log_refs)
    # a missing *value* blob does not matter to a directory listing or treeobj
    assert lookup(lacking(*big_refs), full.root, "big", want="treeobj")["type"] == "valref"
    # a stall never happens for data not on the path
    assert lookup(lacking(a_ref), full.root, "log") == b"one\ntwo\n"


def test_loader_may_return_decoded_objects(full: Tree) -> None:
    def decoded(ref: str) -> Any:
        data = full.store.load(ref)
        try:
            return T.decode(data)
        except ProtocolError:
            return data  # raw value blobs stay bytes

    assert lookup(decoded, full.root, "a.b.c") == b"42"
    assert lookup(decoded, full.root, "big") == b"B" * 200
    listing = lookup(decoded, full.root, "a", want="dir")
    listing.clear()
    assert lookup(decoded, full.root, "a", want="dir") != {}


def test_lookup_kind(full: Tree) -> None:
    kind = lambda key, **kw: lookup_kind(full.load, full.root, key, **kw)  # noqa: E731
    assert kind("a") == "dir"
    assert kind(".") == "dir"
    assert kind("a.b.c") == "val"
    assert kind("big") == "val"
    assert kind("abs") == "symlink"
    assert kind("abs", follow=True) == "dir"
    assert kind("dangling") == "symlink"
    assert kind("dangling", follow=True) is None
    assert kind("missing") is None
    assert kind("a.b.c.d") is None
    assert kind("abs.c") == "val"  # mid-path links are always followed


def test_corrupt_trees_are_eproto(tree: Tree) -> None:
    bad_root = tree.store.store(b"{nope")
    with pytest.raises(ProtocolError):
        lookup(tree.load, bad_root, "a")
    val_root = tree.store.store(T.encode(T.val(b"1")))
    with pytest.raises(ProtocolError):
        lookup(tree.load, val_root, "a")
    bad_entry = tree.store.store(b'{"data":{"a":{"ver":1,"type":"val"}},"type":"dir","ver":1}')
    with pytest.raises(ProtocolError):
        lookup(tree.load, bad_entry, "a")
    assert lookup(tree.load, bad_entry, ".", want="dir")  # only visited entries are checked


def test_without_decode_cache(full: Tree) -> None:
    assert lookup(full.load, full.root, "a.b.c", cache=None) == b"42"
    assert sorted(lookup(full.load, full.root, "a", want="dir", cache=None)) == [
        "b",
        "inner",
        "raw",
    ]
    assert lookup_kind(full.load, full.root, "abs", cache=None) == "symlink"


def test_loader_is_asked_every_time_even_when_cached(full: Tree) -> None:
    asked: list[str] = []

    def load(ref: str) -> bytes | None:
        asked.append(ref)
        return full.load(ref)

    lookup(load, full.root, "a.b.c")
    first = list(asked)
    asked.clear()
    lookup(load, full.root, "a.b.c")
    assert asked == first == [full.root, *(full.get(k, "treeobj")["data"][0] for k in ("a", "a.b"))]
