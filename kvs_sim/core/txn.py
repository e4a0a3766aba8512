"""Transactions: ordered lists of RFC 11 operations, built client-side.

Theory of operation
-------------------
A transaction op is a plain dict, exactly as Flux sends it in a commit::

    {"key": "a.b", "flags": 0, "dirent": <tree object>}   # put / mkdir / symlink
    {"key": "a.b", "flags": 0, "dirent": None}            # unlink
    {"key": "log", "flags": APPEND, "dirent": <val>}      # append bytes

The client composes ops with :class:`Txn`; nothing touches the tree until the
leader applies the ops in order (:mod:`kvs_sim.core.apply`).  As in Flux, keys
are checked for syntax here (an empty key is ``EINVAL`` immediately) but their
*meaning* is only checked at commit time: ``put(".", ...)`` is accepted by the
transaction and fails when committed.

Values follow the Flux Python binding: :meth:`Txn.put` JSON-encodes (so a
non-serialisable value raises ``TypeError``), :meth:`Txn.put_raw` takes ``bytes``
or a ``str`` (UTF-8 encoded) and raises ``AttributeError`` for anything else, as
the binding does when it calls ``.encode()`` on the value.

:func:`compact_ops` implements ``TXN_COMPACT``: several appends to one key in a
transaction become one append of the concatenated data, which keeps an eventlog's
``valref`` from growing one blobref per event.  Like Flux it refuses (``EINVAL``)
when a key is appended to and then written some other way in the same
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from . import treeobj
from .errors import InvalidArgument, ProtocolError
from .flags import APPEND, TXN_OP_FLAGS
from .keys import normalize_key

__all__ = ["Txn", "compact_ops", "make_op", "validate_op", "validate_ops"]

_OP_KEYS = frozenset(("key", "flags", "dirent"))
_EMPTY_DIR: dict[str, Any] = {"ver": treeobj.VERSION, "type": "dir", "data": {}}


def _raw_bytes(data: object) -> bytes:
    """``bytes`` or ``str`` (UTF-8) -> bytes; anything else is AttributeError."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise AttributeError(
        f"{type(data).__name__!r} object has no attribute 'encode' (raw data must be bytes or str)"
    )


def make_op(key: str, flags: int, dirent: dict[str, Any] | None) -> dict[str, Any]:
    """Build one op, checking the key's syntax (``InvalidArgument`` if empty)."""
    normalize_key(key)
    return {"key": key, "flags": flags, "dirent": dirent}


class Txn:
    """An ordered list of KVS operations awaiting commit.

    >>> t = Txn(); t.put("a.b", {"x": 1}); t.unlink("c"); len(t)
    2
    """

    __slots__ = ("_ops",)

    def __init__(self, ops: Iterable[dict[str, Any]] = ()) -> None:
        self._ops: list[dict[str, Any]] = list(validate_ops(tuple(ops))) if ops else []

    def _add(self, key: str, flags: int, dirent: dict[str, Any] | None) -> None:
        self._ops.append(make_op(key, flags, dirent))

    def put(self, key: str, value: Any) -> None:
        """Write ``value`` JSON-encoded (``TypeError`` if it cannot be)."""
        self._add(key, 0, treeobj.val(json.dumps(value).encode("utf-8")))

    def put_raw(self, key: str, data: bytes | str) -> None:
        """Write raw bytes; a ``str`` is stored UTF-8 encoded."""
        self._add(key, 0, treeobj.val(_raw_bytes(data)))

    def put_treeobj(self, key: str, obj: dict[str, Any]) -> None:
        """Write a tree object as is (how ``kvs copy`` duplicates a subtree)."""
        self._add(key, 0, treeobj.validate(obj))

    def mkdir(self, key: str) -> None:
        """Create an empty directory, replacing whatever is at ``key``."""
        self._add(key, 0, dict(_EMPTY_DIR, data={}))

    def unlink(self, key: str) -> None:
        """Remove ``key`` (a value, a link, or a whole directory); missing is fine."""
        self._add(key, 0, None)

    def symlink(self, key: str, target: str, namespace: str | None = None) -> None:
        """Make ``key`` a symlink to ``target`` (in ``namespace`` if given)."""
        self._add(key, 0, treeobj.symlink(target, namespace))

    def append(self, key: str, data: bytes | str) -> None:
        """Append raw bytes (``str`` UTF-8 encoded) to the value at ``key``."""
        self._add(key, APPEND, treeobj.val(_raw_bytes(data)))

    @property
    def ops(self) -> tuple[dict[str, Any], ...]:
        """The ops in order.  Treat them as read-only."""
        return tuple(self._ops)

    def clear(self) -> None:
        """Drop every op."""
        self._ops.clear()

    def __len__(self) -> int:
        return len(self._ops)

    def __repr__(self) -> str:
        return f"<Txn {len(self._ops)} ops>"


# ---------------------------------------------------------------------------
# Checking and compacting ops received over the wire


def validate_op(op: Any) -> dict[str, Any]:
    """Check one op's shape, key, flags and tree object; return it.

    A malformed op (not a dict, wrong members, non-int flags) is
    :class:`ProtocolError`; an empty key, unknown flag bits or an invalid tree
    object are :class:`InvalidArgument`; an append whose object is not a ``val``
    is :class:`ProtocolError`, as in Flux.
    """
    if type(op) is not dict or op.keys() != _OP_KEYS:
        raise ProtocolError(f"malformed transaction op {op!r}: need key, flags, dirent")
    key, flags, dirent = op["key"], op["flags"], op["dirent"]
    normalize_key(key)
    if type(flags) is not int:
        raise ProtocolError(f"malformed transaction op on {key!r}: flags {flags!r}")
    if flags & ~TXN_OP_FLAGS:
        raise InvalidArgument(f"invalid flags {flags:#x} in op on {key!r}")
    if dirent is not None:
        treeobj.validate(dirent)
        if flags & APPEND and dirent["type"] != "val":
            raise ProtocolError(f"append to {key!r} needs a 'val', got {dirent['type']!r}")
    return op


def validate_ops(ops: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    """Validate every op (see :func:`validate_op`); return them as a tuple."""
    if isinstance(ops, str | bytes) or not isinstance(ops, Sequence):
        raise ProtocolError(f"transaction ops must be a sequence, got {type(ops).__name__}")
    return tuple(validate_op(op) for op in ops)


def compact_ops(ops: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the appends to each key into one append at the first one's place.

    Returns a new list (the input is not modified).  A key that is appended to
    and later written by a non-append op in the same transaction cannot be
    compacted: :class:`InvalidArgument`.
    """
    out: list[dict[str, Any]] = []
    appends: dict[str, tuple[int, list[bytes]]] = {}
    for op in ops:
        key = normalize_key(op["key"])
        pending = appends.get(key)
        is_append = op["flags"] == APPEND and op["dirent"] is not None
        if pending is not None:
            if not is_append:
                raise InvalidArgument(
                    f"cannot compact transaction: {key!r} is written after being appended to"
                )
            pending[1].append(treeobj.val_data(op["dirent"]))
        elif is_append:
            appends[key] = (len(out), [treeobj.val_data(op["dirent"])])
            out.append(op)
        else:
            out.append(op)
    for index, chunks in appends.values():
        if len(chunks) > 1:
            first = out[index]
            out[index] = {
                "key": first["key"],
                "flags": first["flags"],
                "dirent": treeobj.val(b"".join(chunks)),
            }
    return out
