"""Namespace registry: create, get, remove, update and access checks."""

import pytest

from kvs_sim.core.content import blobref
from kvs_sim.core.errors import AlreadyExists, InvalidArgument, NotSupported, PermissionDenied
from kvs_sim.core.namespace import PRIMARY, Namespace, NamespaceRegistry, check_access

R1 = blobref(b"1")
R2 = blobref(b"2")


def test_create_get_names() -> None:
    reg = NamespaceRegistry(instance_owner=100)
    ns = reg.create(PRIMARY, 100, R1)
    assert ns == Namespace(PRIMARY, 100, R1, 0, 0)
    reg.create("job1", 5, R2, seq=3)
    assert reg.get("job1").seq == 3
    assert reg.names() == ["job1", PRIMARY]
    assert "job1" in reg
    assert "nope" not in reg
    assert len(reg) == 2
    assert [n.name for n in reg] == ["job1", PRIMARY]
    assert reg.find("nope") is None
    assert "job1" in repr(reg)


def test_create_existing_is_eexist() -> None:
    reg = NamespaceRegistry(0)
    reg.create("a", 0, R1)
    with pytest.raises(AlreadyExists, match="'a'"):
        reg.create("a", 0, R1)
    for bad_name in ("", None):
        with pytest.raises(InvalidArgument):
            reg.create(bad_name, 0, R1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        reg.create("b", 0, "not-a-ref")
    with pytest.raises(InvalidArgument):
        reg.create("b", 0, R1, seq=-1)


def test_get_missing_is_enotsup() -> None:
    reg = NamespaceRegistry(0)
    with pytest.raises(NotSupported, match="namespace 'x' does not exist"):
        reg.get("x")


def test_remove() -> None:
    reg = NamespaceRegistry(0)
    reg.create(PRIMARY, 0, R1)
    reg.create("a", 0, R1)
    reg.remove("a")
    assert "a" not in reg
    reg.remove("a")  # missing: fine
    with pytest.raises(NotSupported):
        reg.remove(PRIMARY)
    assert PRIMARY in reg


def test_update_moves_forward_only() -> None:
    reg = NamespaceRegistry(0)
    old = reg.create("a", 7, R1, seq=1)
    new = reg.update("a", R2, 2)
    assert (new.rootref, new.seq, new.owner) == (R2, 2, 7)
    assert old.rootref == R1  # records are snapshots
    assert reg.get("a") is new
    with pytest.raises(InvalidArgument, match="sequence 2"):
        reg.update("a", R1, 1)
    with pytest.raises(NotSupported):
        reg.update("missing", R1, 5)
    with pytest.raises(InvalidArgument):
        reg.update("a", "bad", 5)


def test_check_access() -> None:
    reg = NamespaceRegistry(instance_owner=100)
    ns = reg.create("job", 5, R1)
    reg.check_access(ns, 100)  # instance owner
    reg.check_access(ns, 5)  # namespace owner
    with pytest.raises(PermissionDenied, match="user 6"):
        reg.check_access(ns, 6)
    with pytest.raises(PermissionError):
        check_access(ns, 6, 100)
