"""Large directories at the leader: encoded from per-entry fragments, versions kept as
changes.

Theory of operation
-------------------
Flux rewrites a whole directory object on every commit that touches it, and the
simulator charges that in virtual time (``ApplyResult.dirents_rewritten``).  Doing
it for real in wall time, too, made one flat directory of 5,000 entries cost a
full JSON encode, a decode and a copy of every version kept in memory, per commit.
This module makes the *wall* cost of a commit proportional to what changed, while
every blobref stays exactly the hash of the canonical encoding
(:func:`~kvs_sim.core.treeobj.encode`):

* **Fragments.**  A directory's canonical JSON is ``{"data":{`` + its entries in
  name order, each encoded as ``"name":{...}``
  (:func:`~kvs_sim.core.treeobj.entry_fragment`), joined by ``,`` +
  ``},"type":"dir","ver":1}``.  A *lineage* keeps, for its newest version (the
  *head*), the sorted names, their fragments and the decoded entries.  A commit
  that changes a few entries re-encodes only those, splices them into the sorted
  lists (:func:`derive`), and hashes the joined bytes: no JSON encoding or
  decoding of the other entries, no copy of the decoded directory.
* **Versions as changes.**  Every version is a :class:`DirBlob`: a
  :class:`~kvs_sim.core.treeobj.LazyTreeObject` of its lineage holding its
  blobref, size and position.  Moving the head forward records how to undo the
  step (the old fragment and entry of every changed name), so an old version's
  bytes are rebuilt on demand from the head (:meth:`DirBlob.materialize`):
  lookups at old roots (snapshots) and loads by lagging followers keep working,
  while a version costs its changes in memory, not a copy of the directory.  The
  few last rebuilt versions are kept (``_RECENT``).
* **Decoded form.**  What lookups see (:meth:`DirBlob.tree_object`) is the
  canonical bytes decoded, exactly as from any store (same values, same key
  order), memoised like any object by the lookup's
  :class:`~kvs_sim.core.treeobj.DecodeCache`.  The lineage's own entries are the
  objects apply built; they serve apply and encoding only.

Only a lineage's head can be derived from in place; deriving from an older
version (or a directory that arrived as bytes) starts a new lineage from its
entries (:func:`create`).  A lineage is used for directories of at least
:data:`FRAGMENT_MIN` entries: below that, plain encoding is as cheap.  A dir is
immutable once stored: what changes in place is the lineage's head state, which
belongs to the newest version only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .content import blobref
from .treeobj import LazyTreeObject, decode, entry_fragment

__all__ = ["FRAGMENT_MIN", "DirBlob", "create", "derive"]

#: Directories with at least this many entries are kept as lineages.
FRAGMENT_MIN = 128

_PREFIX = b'{"data":{'
_SUFFIX = b'},"type":"dir","ver":1}'
_RECENT: OrderedDict[str, bytes] = OrderedDict()
_RECENT_MAX = 4

# One undo step: (name, entry before or None if absent, its fragment or None).
_Undo = tuple[tuple[str, Any, bytes | None], ...]


class _Lineage:
    """The head state of a chain of versions of one directory, and the undo steps."""

    __slots__ = ("entries", "frags", "hash_name", "head_bytes", "names", "undos")

    def __init__(
        self, names: list[str], frags: list[bytes], entries: dict[str, Any], hash_name: str
    ) -> None:
        self.names = names  # sorted
        self.frags = frags  # frags[i] encodes entries[names[i]]
        self.entries = entries
        self.hash_name = hash_name
        self.undos: list[_Undo] = []  # undos[i] turns version i + 1 back into version i
        self.head_bytes: bytes | None = None

    def encode(self) -> bytes:
        data = self.head_bytes
        if data is None:
            data = self.head_bytes = _PREFIX + b",".join(self.frags) + _SUFFIX
        return data


class DirBlob(LazyTreeObject):
    """One stored version of a large directory (see the module docstring)."""

    __slots__ = ("count", "index", "lineage", "ref", "size")

    def __init__(self, lineage: _Lineage, index: int, ref: str, size: int, count: int) -> None:
        self.lineage = lineage
        self.index = index  # position in the lineage: 0 is the oldest
        self.ref = ref
        self.size = size
        self.count = count  # entries

    @property
    def is_head(self) -> bool:
        """True for the newest version of its lineage (the one derived from in place)."""
        return self.index == len(self.lineage.undos)

    @property
    def entries(self) -> Mapping[str, Any]:
        """The head's entries, for apply (shared: do not mutate; they change when the
        head moves on)."""
        if not self.is_head:
            raise ValueError(f"{self!r} is not the head of its lineage")
        return self.lineage.entries

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        if self.is_head:
            return self.lineage.encode()
        return self.materialize()

    def tree_object(self) -> dict[str, Any]:
        return decode(bytes(self), deep=False)

    def materialize(self) -> bytes:
        """The bytes of this (older) version, rebuilt from the head by undoing the
        steps after it."""
        hit = _RECENT.get(self.ref)
        if hit is not None:
            _RECENT.move_to_end(self.ref)
            return hit
        lin = self.lineage
        frags = dict(zip(lin.names, lin.frags, strict=True))
        for undo in reversed(lin.undos[self.index :]):
            for name, old, frag in undo:
                if old is None:
                    del frags[name]
                else:
                    frags[name] = frag  # type: ignore[assignment]
        data = _PREFIX + b",".join([frags[name] for name in sorted(frags)]) + _SUFFIX
        _RECENT[self.ref] = data
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.popitem(last=False)
        return data

    def __repr__(self) -> str:
        state = "head" if self.is_head else f"version {self.index}"
        return f"<DirBlob {self.ref} {self.count} entries {state}>"


def _ref(lin: _Lineage, data: bytes) -> str:
    return blobref(data, lin.hash_name)


def create(entries: Mapping[str, Any], hash_name: str = "sha1") -> DirBlob:
    """A new lineage holding ``entries`` (name -> tree object); its first version."""
    names = sorted(entries)
    lin = _Lineage(
        names,
        [entry_fragment(name, entries[name]) for name in names],
        dict(entries),
        hash_name,
    )
    data = lin.encode()
    return DirBlob(lin, 0, _ref(lin, data), len(data), len(names))


def derive(base: DirBlob, changes: Mapping[str, Any]) -> DirBlob:
    """The version of ``base`` (a head) with ``changes`` applied (name -> new tree
    object, or None to remove it); the lineage's head moves to it.  ``base`` itself
    if nothing changed."""
    if not base.is_head:
        raise ValueError(f"{base!r} is not the head of its lineage")
    lin = base.lineage
    names, frags, entries = lin.names, lin.frags, lin.entries
    undo: list[tuple[str, Any, bytes | None]] = []
    for name, new in changes.items():
        i = bisect_left(names, name)
        present = i < len(names) and names[i] == name
        if new is None:
            if present:
                undo.append((name, entries.pop(name), frags[i]))
                del names[i], frags[i]
            continue
        frag = entry_fragment(name, new)
        if not present:
            undo.append((name, None, None))
            names.insert(i, name)
            frags.insert(i, frag)
        elif frags[i] != frag:
            undo.append((name, entries[name], frags[i]))
            frags[i] = frag
        else:
            continue
        entries[name] = new
    if not undo:
        return base
    lin.head_bytes = None
    data = lin.encode()
    lin.undos.append(tuple(undo))
    return DirBlob(lin, len(lin.undos), _ref(lin, data), len(data), len(names))
