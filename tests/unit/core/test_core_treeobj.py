"""RFC 11 tree objects: construction, validation, canonical encoding."""

from typing import Any

import pytest

from kvs_sim.core import treeobj as T
from kvs_sim.core.content import blobref
from kvs_sim.core.errors import InvalidArgument, ProtocolError

REF = blobref(b"x")
REF2 = blobref(b"y")


def test_constructors_shape() -> None:
    assert T.val(b"42\n") == {"ver": 1, "type": "val", "data": "NDIK"}
    assert T.val(b"") == {"ver": 1, "type": "val", "data": ""}
    assert T.valref([REF, REF2]) == {"ver": 1, "type": "valref", "data": [REF, REF2]}
    assert T.dirref(REF) == {"ver": 1, "type": "dirref", "data": [REF]}
    assert T.dir_({}) == {"ver": 1, "type": "dir", "data": {}}
    inner = {"a": T.val(b"1")}
    d = T.dir_(inner)
    assert d["data"] == inner and d["data"] is not inner
    assert T.symlink("a.b") == {"ver": 1, "type": "symlink", "data": {"target": "a.b"}}
    assert T.symlink("a", "ns") == {
        "ver": 1,
        "type": "symlink",
        "data": {"target": "a", "namespace": "ns"},
    }


def test_accessors() -> None:
    v = T.val(b"hello")
    assert T.type_of(v) == "val"
    assert T.val_data(v) == b"hello"
    for n in range(10):
        assert T.val_size(T.val(b"x" * n)) == n
    assert T.dirref_ref(T.dirref(REF)) == REF
    with pytest.raises(InvalidArgument):
        T.val_data(T.dirref(REF))
    with pytest.raises(InvalidArgument):
        T.dirref_ref(T.val(b""))
    with pytest.raises(InvalidArgument):
        T.type_of({"type": "nope"})
    with pytest.raises(TypeError):
        T.val("text")  # type: ignore[arg-type]


BAD: list[tuple[Any, str]] = [
    ([], "JSON object"),
    ({"type": "val", "data": ""}, "'ver'"),
    ({"ver": 2, "type": "val", "data": ""}, "'ver'"),
    ({"ver": True, "type": "val", "data": ""}, "'ver'"),
    ({"ver": 1, "type": "blob", "data": ""}, "'type'"),
    ({"ver": 1, "type": "hdir", "data": {}}, "hdir"),
    ({"ver": 1, "type": "val"}, "missing 'data'"),
    ({"ver": 1, "type": "val", "data": "", "extra": 1}, "'extra'"),
    ({"ver": 1, "type": "val", "data": 5}, "base64"),
    ({"ver": 1, "type": "val", "data": "a"}, "base64"),
    ({"ver": 1, "type": "val", "data": "!!!!"}, "base64"),
    ({"ver": 1, "type": "valref", "data": []}, "non-empty"),
    ({"ver": 1, "type": "valref", "data": ["sha1-bad"]}, "sha1-bad"),
    ({"ver": 1, "type": "dirref", "data": REF}, "non-empty"),
    ({"ver": 1, "type": "dirref", "data": [REF, REF2]}, "exactly one"),
    ({"ver": 1, "type": "dir", "data": []}, "'dir' data"),
    ({"ver": 1, "type": "dir", "data": {"a.b": T.val(b"")}}, "'a.b'"),
    ({"ver": 1, "type": "dir", "data": {"": T.val(b"")}}, "entry name"),
    ({"ver": 1, "type": "dir", "data": {"a": {"ver": 1}}}, "'type'"),
    ({"ver": 1, "type": "symlink", "data": {}}, "target"),
    ({"ver": 1, "type": "symlink", "data": {"target": ""}}, "target"),
    ({"ver": 1, "type": "symlink", "data": {"target": "a", "x": 1}}, "symlink"),
    ({"ver": 1, "type": "symlink", "data": {"target": "a", "namespace": ""}}, "namespace"),
    ({"ver": 1, "type": "val", "data": "", "size": -1}, "size"),
    ({"ver": 1, "type": "dirref", "data": [REF], "size": 3}, "size"),
]


@pytest.mark.parametrize(("obj", "why"), BAD)
def test_validate_rejects(obj: Any, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        T.validate(obj)
    assert why in str(info.value)


def test_validate_accepts_size_and_shallow() -> None:
    assert T.validate({"ver": 1, "type": "val", "data": "NDIK", "size": 3})
    bad_inner = {"ver": 1, "type": "dir", "data": {"a": {"ver": 9}}}
    assert T.validate(bad_inner, deep=False) is bad_inner
    with pytest.raises(InvalidArgument):
        T.validate(bad_inner)


def test_constructors_validate() -> None:
    with pytest.raises(InvalidArgument):
        T.dirref("nope")
    with pytest.raises(InvalidArgument):
        T.valref([])
    with pytest.raises(InvalidArgument):
        T.symlink("")
    with pytest.raises(InvalidArgument):
        T.dir_({"a": 1})


def test_encode_is_canonical() -> None:
    a = T.dir_({"b": T.val(b"1"), "a": T.symlink("x", "ns")})
    b = T.dir_({"a": T.symlink("x", "ns"), "b": T.val(b"1")})
    assert T.encode(a) == T.encode(b)
    assert b" " not in T.encode(a)
    assert T.encode(T.val(b"42\n")) == b'{"data":"NDIK","type":"val","ver":1}'
    assert T.decode(T.encode(a)) == a
    uni = T.dir_({"\u00e9": T.val(b"")})
    assert T.decode(T.encode(uni)) == uni
    T.encode(uni).decode("ascii")


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"[]", b'"x"', b'{"ver":1,"type":"val","data":"a"}', b"\xff\xfe"],
)
def test_decode_rejects_with_eproto(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        T.decode(data)


def test_decode_cache_hits_and_checks_bytes() -> None:
    cache = T.DecodeCache()
    data = T.encode(T.dir_({"a": T.val(b"1")}))
    ref = blobref(data)
    first = cache.decode(ref, data)
    assert cache.decode(ref, data) is first
    assert cache.decode(ref, bytes(bytearray(data))) is first  # equal bytes, other object
    assert (cache.hits, cache.misses) == (2, 1)
    other = T.encode(T.dir_({}))
    assert cache.decode(ref, other) == T.dir_({})  # same ref, different bytes: re-decoded
    assert cache.misses == 2
    with pytest.raises(ProtocolError):
        cache.decode(blobref(b"x"), b"x")
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


def test_decode_cache_evicts_lru() -> None:
    cache = T.DecodeCache(max_objects=2, max_bytes=1000)
    blobs = [T.encode(T.val(bytes([i]))) for i in range(3)]
    refs = [blobref(b) for b in blobs]
    cache.decode(refs[0], blobs[0])
    cache.decode(refs[1], blobs[1])
    cache.decode(refs[0], blobs[0])  # 0 is now most recent
    cache.decode(refs[2], blobs[2])  # evicts 1
    assert len(cache) == 2
    misses = cache.misses
    cache.decode(refs[0], blobs[0])
    assert cache.misses == misses
    cache.decode(refs[1], blobs[1])
    assert cache.misses == misses + 1
    small = T.DecodeCache(max_bytes=10)
    small.decode(refs[0], blobs[0])  # larger than the whole budget: not kept
    assert len(small) == 0
