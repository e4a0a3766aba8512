"""RFC 11 tree objects: the JSON records a KVS hash tree is made of.

Theory of operation
-------------------
A tree object is a plain ``dict`` in exactly the JSON shape of RFC 11 version 1::

    {"ver": 1, "type": "val",     "data": "<base64>"}
    {"ver": 1, "type": "valref",  "data": ["sha1-...", ...]}
    {"ver": 1, "type": "dir",     "data": {"name": <tree object>, ...}}
    {"ver": 1, "type": "dirref",  "data": ["sha1-..."]}
    {"ver": 1, "type": "symlink", "data": {"target": "a.b", "namespace": "ns"}}

Plain dicts (not classes) because they travel in messages, are stored as JSON,
and are compared for equality; keeping one representation avoids conversions on
the hot path.  Treat them as immutable once built: the apply code shares
unchanged entries between old and new trees.

``valref`` data names *raw* blobs whose concatenation is the value; ``dirref``
names one stored ``dir`` (RFC 11 allows an array but limits it to one).  A
``symlink`` without ``namespace`` points into the namespace it lives in.  The
optional RFC 11 ``size`` member is accepted but never produced.  ``hdir`` is
specified by RFC 11 but unimplemented in Flux, and rejected here.

:func:`encode` is canonical (sorted keys, no whitespace, ASCII), so equal trees
always serialise to equal bytes and therefore equal blobrefs.  :func:`validate`
raises :class:`InvalidArgument` naming the first problem; :func:`decode` turns any
undecodable or invalid bytes into :class:`ProtocolError` (EPROTO), as Flux does
for bad objects coming off the wire or out of the store.

Decoding a large directory costs far more than looking an entry up in it, and
lookups and commits decode the same few directories over and over.
:class:`DecodeCache` memoises decoded objects by blobref.  That is safe because a
blobref names its content forever, and to be safe even against a buggy store a
hit also requires the bytes to be identical (an identity check, or a memcmp).
Cached objects are shared: callers must not mutate them (lookups return copies
of directory listings; apply copies a directory before editing it).

A store may hold an object as a :class:`LazyTreeObject` instead of bytes (the
leader's large directories, :mod:`kvs_sim.core.dirs`): it gives its decoded form
directly, and its bytes only when asked.  :func:`entry_fragment` is one entry of a
directory's canonical encoding, so that encoding can be assembled from cached
fragments: ``{"data":{`` + fragments in name order joined by ``,`` + ``},"type":"dir","ver":1}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

from .content import LazyBlob, is_blobref
from .errors import InvalidArgument, KVSError, ProtocolError

__all__ = [
    "DEFAULT_CACHE",
    "TYPES",
    "VERSION",
    "DecodeCache",
    "LazyTreeObject",
    "decode",
    "dir_",
    "dirref",
    "dirref_ref",
    "encode",
    "entry_fragment",
    "one_shot_encoder",
    "private_copy",
    "symlink",
    "type_of",
    "val",
    "val_data",
    "val_size",
    "validate",
    "valref",
]

VERSION = 1
#: The tree object types this implementation reads and writes.
TYPES = ("val", "valref", "dir", "dirref", "symlink")
_TYPES = frozenset(TYPES)
_TOP_KEYS = frozenset(("ver", "type", "data", "size"))
_SYMLINK_KEYS = frozenset(("target", "namespace"))

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False)


def one_shot_encoder(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` (ASCII output) without building its C encoder again on
    every call, as ``JSONEncoder.encode`` does (~1 us), when the C accelerator is
    there.  No circular check: callers encode trees, never cycles."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return encoder.encode
    opts = (encoder.key_separator, encoder.item_separator, encoder.sort_keys)
    c_encode = make(
        None, encoder.default, encode_basestring_ascii, None, *opts,
        encoder.skipkeys, encoder.allow_nan,
    )  # fmt: skip
    return lambda obj: "".join(c_encode(obj, 0))


_dumps = one_shot_encoder(_ENCODER)


def _bad(obj: object, why: str) -> InvalidArgument:
    text = repr(obj)
    if len(text) > 120:
        text = text[:117] + "..."
    return InvalidArgument(f"invalid tree object {text}: {why}")


# ---------------------------------------------------------------------------
# Constructors


def val(data: bytes) -> dict[str, Any]:
    """A ``val`` holding ``data`` inline (base64 in the JSON)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"val() takes bytes, not {type(data).__name__}")
    return {"ver": VERSION, "type": "val", "data": base64.b64encode(data).decode("ascii")}


def valref(refs: list[str]) -> dict[str, Any]:
    """A ``valref`` whose value is the concatenation of the blobs ``refs``."""
    obj = {"ver": VERSION, "type": "valref", "data": list(refs)}
    validate(obj)
    return obj


def dir_(entries: Mapping[str, Any]) -> dict[str, Any]:
    """A ``dir`` holding ``entries`` (name -> tree object), validated deeply."""
    obj = {"ver": VERSION, "type": "dir", "data": dict(entries)}
    validate(obj)
    return obj


def dirref(ref: str) -> dict[str, Any]:
    """A ``dirref`` pointing at the stored ``dir`` named ``ref``."""
    if not is_blobref(ref):
        raise InvalidArgument(f"invalid blobref {ref!r}")
    return {"ver": VERSION, "type": "dirref", "data": [ref]}


def symlink(target: str, namespace: str | None = None) -> dict[str, Any]:
    """A ``symlink`` to key ``target``, in ``namespace`` if given.

    Targets are resolved from the root of the namespace (see
    :mod:`kvs_sim.core.lookup`), so they are stored as given, unnormalised.
    """
    data: dict[str, str] = {"target": target}
    if namespace is not None:
        data["namespace"] = namespace
    obj = {"ver": VERSION, "type": "symlink", "data": data}
    validate(obj)
    return obj


# ---------------------------------------------------------------------------
# Validation


def validate(obj: Any, *, deep: bool = True) -> dict[str, Any]:
    """Check that ``obj`` is a well-formed tree object and return it.

    ``deep=False`` checks a ``dir``'s own shape but not its entries, for hot
    paths that check entries lazily as they visit them.  Raises
    :class:`InvalidArgument` naming what is wrong.
    """
    if type(obj) is not dict:
        raise _bad(obj, f"expected a JSON object, got {type(obj).__name__}")
    ver = obj.get("ver")
    if ver != VERSION or type(ver) is not int:
        raise _bad(obj, f"'ver' must be {VERSION}, got {ver!r}")
    kind = obj.get("type")
    if kind not in _TYPES:
        if kind == "hdir":
            raise _bad(obj, "type 'hdir' is not supported")
        raise _bad(obj, f"'type' must be one of {', '.join(TYPES)}, got {kind!r}")
    if "data" not in obj:
        raise _bad(obj, "missing 'data'")
    if len(obj) > 3 and not obj.keys() <= _TOP_KEYS:
        extra = sorted(set(obj) - _TOP_KEYS)
        raise _bad(obj, f"unexpected member(s) {', '.join(map(repr, extra))}")
    data = obj["data"]
    if kind == "val":
        if type(data) is not str:
            raise _bad(obj, "'val' data must be a base64 string")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad(obj, f"'val' data is not valid base64 ({e})") from None
    elif kind in ("valref", "dirref"):
        if type(data) is not list or not data:
            raise _bad(obj, f"{kind!r} data must be a non-empty array of blobrefs")
        if kind == "dirref" and len(data) != 1:
            raise _bad(obj, f"'dirref' must hold exactly one blobref, got {len(data)}")
        for ref in data:
            if not is_blobref(ref):
                raise _bad(obj, f"{ref!r} is not a blobref")
    elif kind == "dir":
        if type(data) is not dict:
            raise _bad(obj, "'dir' data must be an object")
        if deep:
            for name, entry in data.items():
                if not name or "." in name:
                    raise _bad(obj, f"invalid entry name {name!r}")
                validate(entry)
    else:  # symlink
        if type(data) is not dict or not data.keys() <= _SYMLINK_KEYS:
            raise _bad(obj, "'symlink' data must be an object with 'target' and 'namespace'")
        target = data.get("target")
        if type(target) is not str or not target:
            raise _bad(obj, "'symlink' target must be a non-empty string")
        ns = data.get("namespace")
        if ns is not None and (type(ns) is not str or not ns):
            raise _bad(obj, "'symlink' namespace must be a non-empty string")
    if "size" in obj:
        size = obj["size"]
        if kind not in ("val", "valref") or type(size) is not int or size < 0:
            raise _bad(obj, f"invalid 'size' {size!r}")
    return obj


# ---------------------------------------------------------------------------
# Serialisation


def encode(obj: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of ``obj``: sorted keys, compact, ASCII.

    Does not validate (callers build objects with the constructors); equal
    objects always give equal bytes.
    """
    return _dumps(obj).encode("ascii")


def entry_fragment(name: str, obj: Mapping[str, Any]) -> bytes:
    """Entry ``name: obj`` exactly as it appears inside the canonical encoding of a
    ``dir`` holding it (``"name":{...}``)."""
    return _dumps({name: obj})[1:-1].encode("ascii")


def private_copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a valid tree object (not a ``dir``) that shares nothing mutable
    with it and has every key in the order :func:`decode` gives (sorted, as
    encoded): apply puts these in the directories it primes into a
    :class:`DecodeCache`, where they must look decoded and never change."""
    if len(obj) == 3 and obj.get("type") == "val":  # the usual put (ver is 1)
        return {"data": obj["data"], "type": "val", "ver": VERSION}
    out: dict[str, Any] = {}
    for key in sorted(obj):
        value = obj[key]
        kind = type(value)
        out[key] = list(value) if kind is list else private_copy(value) if kind is dict else value
    return out


class LazyTreeObject(LazyBlob):
    """A stored tree object that gives its decoded form without decoding bytes."""

    __slots__ = ()

    @abstractmethod
    def tree_object(self) -> dict[str, Any]:
        """The object as :func:`decode` would return it (shared: do not mutate)."""


class DecodeCache:
    """A bounded LRU of decoded tree objects, keyed by blobref.

    Bounded by object count and by the total size of the encoded bytes; the
    decoded form takes a few times more memory.  ``hits`` and ``misses`` count
    lookups for tuning.  An :class:`~collections.OrderedDict` keeps the order:
    evicting the oldest entry of a plain dict that is popped from the front
    over and over scans the holes it left, which cost more than a decode.
    """

    __slots__ = ("_memo", "_size", "hits", "max_bytes", "max_objects", "misses")

    def __init__(self, max_objects: int = 4096, max_bytes: int = 8 << 20) -> None:
        self.max_objects = max_objects
        self.max_bytes = max_bytes
        self._memo: OrderedDict[str, tuple[bytes | LazyTreeObject, dict[str, Any]]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def decode(self, ref: str, data: bytes | LazyTreeObject) -> dict[str, Any]:
        """``decode(data, deep=False)``, memoised under ``ref``."""
        memo = self._memo
        hit = memo.get(ref)
        if hit is not None:
            if hit[0] is data or hit[0] == data:
                memo.move_to_end(ref)  # most recently used goes last
                self.hits += 1
                return hit[1]
            del memo[ref]
            self._size -= len(hit[0])
        self.misses += 1
        obj = data.tree_object() if isinstance(data, LazyTreeObject) else decode(data, deep=False)
        self._keep(ref, data, obj)
        return obj

    def prime(self, ref: str, data: bytes, obj: dict[str, Any]) -> None:
        """Remember ``obj`` as the decoded form of ``data`` (named ``ref``), as if it
        had just been decoded: for a writer that has just encoded ``obj``.  ``obj``
        must be exactly what :func:`decode` would return (key order included) and
        the caller gives it up: it is shared from now on and never mutated."""
        old = self._memo.pop(ref, None)
        if old is not None:
            self._size -= len(old[0])
        self._keep(ref, data, obj)

    def _keep(self, ref: str, data: bytes | LazyTreeObject, obj: dict[str, Any]) -> None:
        size = len(data)
        if size <= self.max_bytes:
            memo = self._memo
            memo[ref] = (data, obj)
            self._size += size
            while self._size > self.max_bytes or len(memo) > self.max_objects:
                self._size -= len(memo.popitem(last=False)[1][0])

    def clear(self) -> None:
        """Forget every memoised object."""
        self._memo.clear()
        self._size = 0

    def __len__(self) -> int:
        return len(self._memo)


def decode_loaded(ref: str, raw: Any, cache: DecodeCache | None) -> dict[str, Any]:
    """The tree object a loader returned for ``ref``: already decoded (a dict), or
    bytes (or a :class:`LazyTreeObject`) decoded (shallowly) through ``cache`` when
    there is one."""
    if isinstance(raw, dict):
        return raw
    if cache is not None:
        return cache.decode(ref, raw)
    if isinstance(raw, LazyTreeObject):
        return raw.tree_object()
    return decode(raw, deep=False)


def decode(data: bytes, *, deep: bool = True) -> dict[str, Any]:
    """Parse and validate a stored tree object.

    Any failure (not JSON, not an object, not a valid tree object) is a
    :class:`ProtocolError` whose message says why.  ``deep`` as for
    :func:`validate`.
    """
    try:
        obj = json.loads(data)
    except (ValueError, TypeError) as e:
        raise ProtocolError(f"undecodable tree object ({e})") from None
    try:
        return validate(obj, deep=deep)
    except KVSError as e:
        raise ProtocolError(e.strerror or "invalid tree object") from None


# ---------------------------------------------------------------------------
# Accessors


def type_of(obj: Mapping[str, Any]) -> str:
    """The RFC 11 type name of ``obj`` (``"val"``, ``"dir"``...)."""
    try:
        kind = obj["type"]
    except (KeyError, TypeError):
        raise _bad(obj, "missing 'type'") from None
    if kind not in _TYPES:
        raise _bad(obj, f"unknown type {kind!r}")
    return str(kind)


def val_data(obj: Mapping[str, Any]) -> bytes:
    """The bytes held inline by a ``val`` object."""
    if obj.get("type") != "val":
        raise _bad(obj, "not a 'val'")
    try:
        return base64.b64decode(obj["data"])
    except (binascii.Error, ValueError, TypeError) as e:
        raise _bad(obj, f"'val' data is not valid base64 ({e})") from None


def val_size(obj: Mapping[str, Any]) -> int:
    """Decoded length of a ``val``'s data, computed without decoding it."""
    text: str = obj["data"]
    n = len(text)
    if n == 0:
        return 0
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return n // 4 * 3 - pad


def dirref_ref(obj: Mapping[str, Any]) -> str:
    """The blobref a ``dirref`` points at."""
    if obj.get("type") != "dirref":
        raise _bad(obj, "not a 'dirref'")
    return str(obj["data"][0])


#: The cache lookups and commits use unless given another (or None).
DEFAULT_CACHE = DecodeCache()
