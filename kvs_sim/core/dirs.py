"""Large directories at the leader: encoded from per-entry fragments, versions kept as
changes.

Theory of operation
-------------------
Flux rewrites a whole directory object on every commit that touches it, and the
simulator charges that in virtual time (``ApplyResult.dirents_rewritten``).  Doing
it for real in wall time, too, made one flat directory of 5,000 entries cost a
full JSON encode, a decode and a copy of every version kept in memory, per commit.
This module makes the *wall* cost of a commit close to proportional to what
changed, while every blobref stays exactly the hash of the canonical encoding
(:func:`~kvs_sim.core.treeobj.encode`):

* **Fragments.**  A directory's canonical JSON is ``{"data":{`` + its entries in
  name order, each encoded as ``"name":{...}``
  (:func:`~kvs_sim.core.treeobj.entry_fragment`), joined by ``,`` +
  ``},"type":"dir","ver":1}``.  A *lineage* keeps, for its newest version (the
  *head*), the sorted names and their fragments in blocks of a few hundred
  (like ``sortedcontainers``' lists of lists), each block's joined bytes, and the
  hash state *before* each block.  A commit that changes a few entries encodes
  only those, splices them into their blocks (:func:`derive`), and hashes from the
  first changed block on, resuming from that block's saved state: no JSON
  encoding or decoding of the other entries, no copy of the directory, and no
  bytes of the whole directory at all unless someone asks for them.
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

import hashlib
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .treeobj import LazyTreeObject, decode, entry_fragment

__all__ = ["FRAGMENT_MIN", "DirBlob", "create", "derive"]

#: Directories with at least this many entries are kept as lineages.
FRAGMENT_MIN = 128

_LOAD = 256  # entries per block; a block splits in two past twice that
_PREFIX = b'{"data":{'
_SUFFIX = b'},"type":"dir","ver":1}'
_FIXED = len(_PREFIX) + len(_SUFFIX)
_RECENT: OrderedDict[str, bytes] = OrderedDict()
_RECENT_MAX = 4

# One undo step: (name, entry before or None if absent, its fragment or None).
_Undo = tuple[tuple[str, Any, bytes | None], ...]


class _Lineage:
    """The head state of a chain of versions of one directory, and the undo steps."""

    __slots__ = (
        "blocks",
        "count",
        "entries",
        "frag_bytes",
        "frags",
        "hash_name",
        "joined",
        "maxes",
        "states",
        "undos",
        "valid",
    )

    def __init__(
        self, names: list[str], frags: list[bytes], entries: dict[str, Any], hash_name: str
    ) -> None:
        step = _LOAD
        self.blocks = [names[i : i + step] for i in range(0, len(names), step)]
        self.frags = [frags[i : i + step] for i in range(0, len(frags), step)]
        self.maxes = [block[-1] for block in self.blocks]
        self.joined: list[bytes | None] = [None] * len(self.blocks)
        first = hashlib.new(hash_name, _PREFIX)
        self.states: list[Any] = [first] + [None] * max(0, len(self.blocks) - 1)
        self.valid = 0  # states[k] is right for every k <= valid
        self.count = len(names)
        self.frag_bytes = sum(map(len, frags))
        self.entries = entries
        self.hash_name = hash_name
        self.undos: list[_Undo] = []  # undos[i] turns version i + 1 back into version i

    # -- edits ---------------------------------------------------------------------

    def _locate(self, name: str) -> tuple[int, int]:
        """(block, index) where ``name`` is or would be inserted."""
        k = bisect_left(self.maxes, name)
        if k == len(self.maxes):
            if not self.blocks:
                return -1, 0
            k -= 1
        return k, bisect_left(self.blocks[k], name)

    def _touched(self, k: int) -> None:
        self.joined[k] = None
        self.valid = min(self.valid, k)

    def find(self, name: str) -> bytes | None:
        k, i = self._locate(name)
        if k >= 0 and i < len(self.blocks[k]) and self.blocks[k][i] == name:
            return self.frags[k][i]
        return None

    def put(self, name: str, frag: bytes) -> bytes | None:
        """Set ``name``'s fragment; return the old one (None if it was absent)."""
        k, i = self._locate(name)
        if k < 0:  # the first entry of an empty directory
            self.blocks.append([name])
            self.frags.append([frag])
            self.maxes.append(name)
            self.joined.append(None)
            self.count += 1
            self.frag_bytes += len(frag)
            return None
        block, frags = self.blocks[k], self.frags[k]
        self._touched(k)
        if i < len(block) and block[i] == name:
            old = frags[i]
            frags[i] = frag
            self.frag_bytes += len(frag) - len(old)
            return old
        block.insert(i, name)
        frags.insert(i, frag)
        self.maxes[k] = block[-1]
        self.count += 1
        self.frag_bytes += len(frag)
        if len(block) > 2 * _LOAD:  # split in two
            half = len(block) // 2
            self.blocks[k : k + 1] = [block[:half], block[half:]]
            self.frags[k : k + 1] = [frags[:half], frags[half:]]
            self.maxes[k : k + 1] = [block[half - 1], block[-1]]
            self.joined[k : k + 1] = [None, None]
            self.states.insert(k + 1, None)
        return None

    def remove(self, name: str) -> bytes | None:
        """Remove ``name``; return its fragment (None if it was absent)."""
        k, i = self._locate(name)
        if k < 0 or i >= len(self.blocks[k]) or self.blocks[k][i] != name:
            return None
        block, frags = self.blocks[k], self.frags[k]
        old = frags.pop(i)
        del block[i]
        self.count -= 1
        self.frag_bytes -= len(old)
        self._touched(k)
        if block:
            self.maxes[k] = block[-1]
        else:  # drop the empty block (states[k] stays right for the next one)
            del self.blocks[k], self.frags[k], self.maxes[k], self.joined[k]
            if k + 1 < len(self.states):
                del self.states[k + 1]
            elif k > 0:
                del self.states[k]
            self.valid = max(0, min(self.valid, len(self.blocks) - 1))
        return old

    # -- encoding ------------------------------------------------------------------

    def _block(self, k: int) -> bytes:
        data = self.joined[k]
        if data is None:
            data = self.joined[k] = b",".join(self.frags[k])
        return data

    def size(self) -> int:
        return _FIXED + self.frag_bytes + max(0, self.count - 1)

    def ref(self) -> str:
        """The head's blobref: hashed from the first changed block on."""
        n = len(self.blocks)
        j = min(self.valid, max(0, n - 1))
        h = self.states[j].copy()
        states = self.states
        for k in range(j, n):
            if k > j:
                states[k] = h.copy()
            h.update(self._block(k))
            if k < n - 1:
                h.update(b",")
        self.valid = max(0, n - 1)
        h.update(_SUFFIX)
        return f"{self.hash_name}-{h.hexdigest()}"

    def encode(self) -> bytes:
        return _PREFIX + b",".join([self._block(k) for k in range(len(self.blocks))]) + _SUFFIX

    def fragments(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for names, frags in zip(self.blocks, self.frags, strict=True):
            out.update(zip(names, frags, strict=True))
        return out


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
        frags = lin.fragments()
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


def create(entries: Mapping[str, Any], hash_name: str = "sha1") -> DirBlob:
    """A new lineage holding ``entries`` (name -> tree object); its first version."""
    names = sorted(entries)
    frags = [entry_fragment(name, entries[name]) for name in names]
    lin = _Lineage(names, frags, dict(entries), hash_name)
    return DirBlob(lin, 0, lin.ref(), lin.size(), lin.count)


def derive(base: DirBlob, changes: Mapping[str, Any]) -> DirBlob:
    """The version of ``base`` (a head) with ``changes`` applied (name -> new tree
    object, or None to remove it); the lineage's head moves to it.  ``base`` itself
    if nothing changed."""
    if not base.is_head:
        raise ValueError(f"{base!r} is not the head of its lineage")
    lin = base.lineage
    entries = lin.entries
    undo: list[tuple[str, Any, bytes | None]] = []
    for name, new in changes.items():
        if new is None:
            old_frag = lin.remove(name)
            if old_frag is not None:
                undo.append((name, entries.pop(name), old_frag))
            continue
        frag = entry_fragment(name, new)
        if lin.find(name) == frag:
            continue
        old_frag = lin.put(name, frag)
        undo.append((name, entries.get(name) if old_frag is not None else None, old_frag))
        entries[name] = new
    if not undo:
        return base
    lin.undos.append(tuple(undo))
    return DirBlob(lin, len(lin.undos), lin.ref(), lin.size(), lin.count)
