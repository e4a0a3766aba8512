"""Guests (non-owners) may commit only values, unlinks and empty directories."""

from __future__ import annotations

import errno

import pytest

from kvs_sim.core import treeobj
from kvs_sim.core.namespace import authorize_commit
from kvs_sim.core.txn import Txn

OWNER, GUEST = 0, 1000


def ops_of(fill: str) -> tuple[dict, ...]:
    txn = Txn()
    if fill == "val":
        txn.put("a", {"x": 1})
    elif fill == "raw":
        txn.put_raw("a", b"\x00\x01")
    elif fill == "append":
        txn.append("log", "line\n")
    elif fill == "unlink":
        txn.unlink("a")
    elif fill == "mkdir":
        txn.mkdir("d")
    elif fill == "symlink":
        txn.symlink("l", "a")
    elif fill == "dirref":
        txn.put_treeobj("d", treeobj.dirref("sha1-" + "0" * 40))
    elif fill == "valref":
        txn.put_treeobj("v", treeobj.valref(["sha1-" + "0" * 40]))
    elif fill == "fulldir":
        txn.put_treeobj("d", treeobj.dir_({"x": treeobj.val(b"1")}))
    return txn.ops


@pytest.mark.parametrize("fill", ["val", "raw", "append", "unlink", "mkdir"])
def test_guests_may_commit_values_unlinks_and_empty_directories(fill: str) -> None:
    authorize_commit(ops_of(fill), GUEST, OWNER)


@pytest.mark.parametrize(
    ("fill", "what"),
    [
        ("symlink", "symlink"),
        ("dirref", "dirref"),
        ("valref", "valref"),
        ("fulldir", "non-empty dir"),
    ],
)
def test_guests_may_not_commit_references_links_or_full_directories(fill: str, what: str) -> None:
    with pytest.raises(PermissionError) as info:
        authorize_commit(ops_of(fill), GUEST, OWNER)
    assert info.value.errno == errno.EPERM
    assert f"guests may not commit {what} objects" in str(info.value)
    authorize_commit(ops_of(fill), OWNER, OWNER)  # the instance owner may
