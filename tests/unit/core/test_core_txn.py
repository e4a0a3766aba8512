"""Transactions: op shapes, value encodings, validation and compaction."""

import json
from typing import Any

import pytest

from kvs_sim.core import treeobj as T
from kvs_sim.core.errors import InvalidArgument, ProtocolError
from kvs_sim.core.flags import APPEND
from kvs_sim.core.txn import Txn, compact_ops, make_op, validate_op, validate_ops


def test_put_json_encodes() -> None:
    t = Txn()
    t.put("a.b", {"x": [1, 2]})
    (op,) = t.ops
    assert op["key"] == "a.b"
    assert op["flags"] == 0
    assert T.val_data(op["dirent"]) == json.dumps({"x": [1, 2]}).encode()
    t.put("n", None)
    assert T.val_data(t.ops[1]["dirent"]) == b"null"


def test_put_non_serialisable_is_type_error() -> None:
    t = Txn()
    with pytest.raises(TypeError):
        t.put("k", object())
    with pytest.raises(TypeError):
        t.put("k", b"bytes are not JSON")
    assert len(t) == 0


def test_put_raw() -> None:
    t = Txn()
    t.put_raw("k", b"\x00\xff")
    t.put_raw("s", "h\u00e9")
    t.put_raw("ba", bytearray(b"ab"))
    assert [T.val_data(op["dirent"]) for op in t.ops] == [b"\x00\xff", "h\u00e9".encode(), b"ab"]
    for bad in (1, None, 2.5, ["x"]):
        with pytest.raises(AttributeError):
            t.put_raw("k", bad)  # type: ignore[arg-type]


def test_mkdir_unlink_symlink_append() -> None:
    t = Txn()
    t.mkdir("d")
    t.unlink("u")
    t.symlink("l", "a.b")
    t.symlink("m", "x", namespace="ns")
    t.append("log", "line\n")
    ops = t.ops
    assert ops[0]["dirent"] == {"ver": 1, "type": "dir", "data": {}}
    assert ops[1] == {"key": "u", "flags": 0, "dirent": None}
    assert ops[2]["dirent"] == T.symlink("a.b")
    assert ops[3]["dirent"] == T.symlink("x", "ns")
    assert ops[4]["flags"] == APPEND
    assert T.val_data(ops[4]["dirent"]) == b"line\n"
    with pytest.raises(AttributeError):
        t.append("log", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        t.symlink("l", "")
    # each mkdir gets its own empty dict
    t.mkdir("e")
    assert t.ops[-1]["dirent"]["data"] is not ops[0]["dirent"]["data"]


def test_keys_checked_but_root_accepted() -> None:
    t = Txn()
    with pytest.raises(InvalidArgument, match="invalid key ''"):
        t.put("", 1)
    with pytest.raises(InvalidArgument):
        t.unlink(None)  # type: ignore[arg-type]
    t.put(".", 1)  # fails at commit time, as in Flux
    t.put("a..b", 2)
    assert [op["key"] for op in t.ops] == [".", "a..b"]


def test_ops_tuple_len_clear_repr() -> None:
    t = Txn()
    t.put("a", 1)
    t.put("b", 2)
    assert isinstance(t.ops, tuple)
    assert len(t) == 2
    assert "2 ops" in repr(t)
    again = Txn(t.ops)
    assert again.ops == t.ops
    t.clear()
    assert len(t) == 0
    assert t.ops == ()


def test_put_treeobj() -> None:
    t = Txn()
    ref = "sha1-" + "1" * 40
    t.put_treeobj("copy", T.dirref(ref))
    assert t.ops[0]["dirent"] == T.dirref(ref)
    with pytest.raises(InvalidArgument):
        t.put_treeobj("copy", {"ver": 1, "type": "nope", "data": 1})


BAD_OPS: list[tuple[Any, type[Exception]]] = [
    ("not a dict", ProtocolError),
    ({"key": "a", "flags": 0}, ProtocolError),
    ({"key": "a", "flags": 0, "dirent": None, "x": 1}, ProtocolError),
    ({"key": "a", "flags": "0", "dirent": None}, ProtocolError),
    ({"key": "", "flags": 0, "dirent": None}, InvalidArgument),
    ({"key": 5, "flags": 0, "dirent": None}, InvalidArgument),
    ({"key": "a", "flags": 4, "dirent": None}, InvalidArgument),
    ({"key": "a", "flags": 0, "dirent": {"ver": 1}}, InvalidArgument),
    ({"key": "a", "flags": APPEND, "dirent": T.dir_({})}, ProtocolError),
]


@pytest.mark.parametrize(("op", "exc"), BAD_OPS)
def test_validate_op_rejects(op: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        validate_op(op)


def test_validate_ops() -> None:
    t = Txn()
    t.put("a", 1)
    t.append("b", b"x")
    assert validate_ops(list(t.ops)) == t.ops
    with pytest.raises(ProtocolError):
        validate_ops("abc")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        validate_ops({"key": "a"})  # type: ignore[arg-type]
    assert make_op("a", 0, None) == {"key": "a", "flags": 0, "dirent": None}


def test_compact_merges_appends() -> None:
    t = Txn()
    t.put("other", 1)
    t.append("log", b"A")
    t.append("x", b"1")
    t.append("log", b"B")
    t.append("log.", b"C")  # same key once normalised
    ops = t.ops
    out = compact_ops(ops)
    assert [op["key"] for op in out] == ["other", "log", "x"]
    assert T.val_data(out[1]["dirent"]) == b"ABC"
    assert out[1]["flags"] == APPEND
    assert out[2] is ops[2]
    assert ops == t.ops  # input untouched


def test_compact_rejects_write_after_append() -> None:
    t = Txn()
    t.append("log", b"A")
    t.put("log", 1)
    t.append("log", b"C")
    with pytest.raises(InvalidArgument, match="log"):
        compact_ops(t.ops)
    t2 = Txn()
    t2.put("log", 1)  # a write *before* the first append is fine
    t2.append("log", b"A")
    t2.append("log", b"B")
    out = compact_ops(t2.ops)
    assert len(out) == 2
    assert T.val_data(out[1]["dirent"]) == b"AB"
