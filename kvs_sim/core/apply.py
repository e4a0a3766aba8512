"""Applying transactions to a hash tree: the leader's commit path.

Theory of operation
-------------------
A namespace's state is one root blobref.  Applying a batch of transactions
(one commit, or several merged commits) produces a new root by copy-on-write:

1. **Walk and copy.**  For each op, in order, walk the key's path from the root.
   Every directory on the path is loaded once per batch, decoded into a private
   mutable :class:`_Dir` and linked into its (already private) parent.
   Directories off the path are never loaded: their ``dirref`` entries are
   shared, untouched, with the old tree.
2. **Edit.**  The final path component is inserted, replaced, appended to or
   removed in its private directory.
3. **Unroll.**  Depth-first, every private directory that changed is encoded
   canonically, stored, and replaced in its parent by a ``dirref``; one that did
   not change keeps its old ``dirref``.  The root's new ref is the result.  A plain
   ``dir`` stored is primed into the decode cache as decoding would give it (keys
   sorted, op values copied: :func:`~kvs_sim.core.treeobj.private_copy`).

Only the objects on the edited paths are re-encoded, so the cost of a commit is
proportional to the sizes of the directories it rewrites, which is what Flux pays
and what :attr:`ApplyResult.dirents_rewritten` reports to the service-time model.

Large directories (:data:`~kvs_sim.core.dirs.FRAGMENT_MIN` entries or more) are
stored as :class:`~kvs_sim.core.dirs.DirBlob` versions when the store accepts
lazy blobs (``accepts_lazy``): a directory loaded from its lineage's head is
edited as an overlay of changes on the head's entries (:class:`_Dir` ``base``),
and unrolling it re-encodes only the changed entries
(:func:`~kvs_sim.core.dirs.derive`).  Blobrefs are the same either way.

Atomicity: nothing reachable from the old root is ever mutated (loaded objects
are decoded fresh or copied), so if any op fails the caller's old root is still
valid; the only side effect is that some new blobs may already have been stored,
which content addressing makes harmless.  The error is a :class:`KVSError` with
``txn_index`` set to the failing transaction's position in the batch, so a
leader can replay a failed merged batch commit by commit.

Rules, following flux-core's ``kvstxn.c``:

* a put of a deep key creates missing parents; a value in the *middle* of the
  path is replaced by a new directory (``k.sub`` over value ``k``); whatever sits
  at the *final* component is replaced (a value over a directory; a put over a
  symlink replaces the link itself, it does not write through it);
* unlink of a missing key, or of a path under a missing directory or through a
  value, succeeds and changes nothing; unlink of a non-empty directory removes it;
* writing or unlinking the root ``.`` is ``EINVAL``;
* append: to a missing key inserts the value; to a ``val`` turns it into a
  ``valref`` of two blobs (old data, new data); to a ``valref`` adds one blob; to
  a directory is ``EISDIR``; to a symlink is ``EOPNOTSUPP``;
* a symlink in the *middle* of a write path is followed: the write restarts from
  the root at ``target + rest of key``, as Flux does.  A link into another
  namespace cannot be written through (``EINVAL``), and more than
  ``SYMLINK_MAX_DEPTH`` nested links is ``ELOOP`` (Flux has no limit here and
  would recurse forever);
* values whose data is larger than ``inline_max`` bytes are stored as a blob and
  referenced by a ``valref``.  Flux's rule is "base64 text longer than
  ``BLOBREF_MAX_STRING_SIZE`` (72) characters", which is exactly "more than 54
  raw bytes", hence :data:`INLINE_MAX` = 54.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import dirs, treeobj
from .errors import (
    InvalidArgument,
    IsDirectory,
    KVSError,
    MissingObject,
    NotSupported,
    ProtocolError,
    SymlinkLoop,
)
from .flags import APPEND
from .keys import SYMLINK_MAX_DEPTH, key_components, normalize_key
from .txn import compact_ops, validate_op

__all__ = ["INLINE_MAX", "ApplyResult", "BlobStore", "apply_transactions", "empty_root"]

#: Largest value (in raw bytes) kept inline in its directory as a ``val``.
INLINE_MAX = 54

_VER = treeobj.VERSION
_EMPTY_DIR = treeobj.encode({"ver": _VER, "type": "dir", "data": {}})


class BlobStore(Protocol):
    """What apply needs from a store: :class:`~kvs_sim.core.content.ContentStore`
    fits.  ``load`` may return ``None`` for an object not held locally, which
    raises :class:`MissingObject` (a stall) instead of an error."""

    def store(self, data: bytes) -> str: ...

    def load(self, ref: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """Outcome of one successful batch.

    ``keys`` are the sorted, normalised keys named by the ops (what a setroot
    event announces).  ``dirents_rewritten`` is the total number of entries in
    every directory object stored.  ``new_refs`` lists each blobref stored by the
    batch once, in store order (directories and value blobs; some may have been
    in the store already).
    """

    rootref: str
    keys: tuple[str, ...]
    dirents_rewritten: int
    new_refs: tuple[str, ...]


def empty_root(store: BlobStore) -> str:
    """Store an empty directory and return its blobref (a fresh namespace)."""
    return store.store(_EMPTY_DIR)


class _Dir:
    """A directory being edited: private, mutable, and unrolled at the end.

    With a ``base`` (the head of a large directory's lineage), ``entries`` holds
    only the changes made on top of the base's entries, None marking a removal;
    the base is read, never written, until unroll."""

    __slots__ = ("base", "changed", "entries", "orig", "subdirs")

    def __init__(
        self,
        entries: dict[str, Any],
        orig: dict[str, Any] | None,
        base: dirs.DirBlob | None = None,
    ) -> None:
        self.entries = entries  # name -> tree object or _Dir (or None: removed from base)
        self.orig = orig  # the dirref this was loaded from; None if new
        self.base = base
        self.changed = orig is None
        self.subdirs: list[str] = []  # names that may hold a _Dir

    def get(self, name: str) -> Any:
        if self.base is None:
            return self.entries.get(name)
        ent = self.entries.get(name, _UNSET)
        return self.base.entries.get(name) if ent is _UNSET else ent

    def pop(self, name: str) -> bool:
        """Remove ``name``; True if it was there."""
        if self.base is None:
            return self.entries.pop(name, None) is not None
        if self.get(name) is None:
            return False
        self.entries[name] = None
        return True


_UNSET = object()


class _Applier:
    __slots__ = (
        "cache",
        "claimed",
        "hash_name",
        "inline_max",
        "lazy",
        "max_depth",
        "namespace",
        "new_refs",
        "rewritten",
        "root",
        "store",
    )

    def __init__(
        self,
        store: BlobStore,
        rootref: str,
        *,
        inline_max: int,
        namespace: str | None,
        max_depth: int,
        cache: treeobj.DecodeCache | None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.inline_max = inline_max
        self.namespace = namespace
        self.max_depth = max_depth
        self.new_refs: dict[str, None] = {}
        self.rewritten = 0
        self.lazy = bool(getattr(store, "accepts_lazy", False))
        self.hash_name = str(getattr(store, "hash_name", "sha1"))
        self.claimed: set[int] = set()  # lineages edited in place by this batch
        self.root = self._load_dir(treeobj.dirref(rootref), ".")

    # -- objects ------------------------------------------------------------------

    def _store(self, data: Any) -> str:
        ref = self.store.store(data)
        self.new_refs[ref] = None
        return ref

    def _load_dir(self, ent: dict[str, Any], key: str) -> _Dir:
        ref = ent["data"][0]
        raw = self.store.load(ref)
        if raw is None:
            raise MissingObject(ref)
        if type(raw) is dirs.DirBlob and raw.is_head and id(raw.lineage) not in self.claimed:
            self.claimed.add(id(raw.lineage))  # one editor per lineage and batch
            return _Dir({}, ent, raw)
        obj = treeobj.decode_loaded(ref, raw, self.cache)
        if obj["type"] != "dir":
            raise ProtocolError(f"dirref {ref} under {key!r} names a {obj['type']!r}, not a dir")
        return _Dir(dict(obj["data"]), ent)  # a private copy: decoded objects are shared

    def _kind(self, ent: Any, key: str) -> str:
        try:
            return str(treeobj.validate(ent, deep=False)["type"])
        except KVSError as e:
            raise ProtocolError(
                f"corrupt tree object on the path to {key!r}: {e.strerror}"
            ) from None

    # -- edits --------------------------------------------------------------------

    def _new_subdir(self, node: _Dir, name: str, child: _Dir) -> _Dir:
        node.entries[name] = child
        node.subdirs.append(name)
        return child

    def _insert(self, node: _Dir, name: str, dirent: dict[str, Any]) -> None:
        kind = dirent["type"]
        if kind == "dir":
            child = self._new_subdir(node, name, _Dir({}, None))
            for sub, ent in dirent["data"].items():
                self._insert(child, sub, ent)
        elif kind == "val" and treeobj.val_size(dirent) > self.inline_max:
            ref = self._store(treeobj.val_data(dirent))
            node.entries[name] = {"data": [ref], "type": "valref", "ver": _VER}
        else:
            node.entries[name] = treeobj.private_copy(dirent)
        node.changed = True

    def _append(self, node: _Dir, name: str, dirent: dict[str, Any], key: str) -> None:
        cur = node.get(name)
        if cur is None:
            self._insert(node, name, dirent)
            return
        kind = "dir" if type(cur) is _Dir else self._kind(cur, key)
        if kind == "valref":
            refs = [*cur["data"], self._store(treeobj.val_data(dirent))]
        elif kind == "val":
            refs = [self._store(treeobj.val_data(cur)), self._store(treeobj.val_data(dirent))]
        elif kind == "symlink":
            raise NotSupported(f"cannot append to {key!r}: it is a symlink")
        else:
            raise IsDirectory(f"cannot append to {key!r}: it is a directory")
        node.entries[name] = {"data": refs, "type": "valref", "ver": _VER}
        node.changed = True

    def link(
        self, key: str, comps: list[str], dirent: dict[str, Any] | None, flags: int, depth: int
    ) -> None:
        """Apply one op whose path is ``comps`` (non-empty) from the root."""
        node = self.root
        last = len(comps) - 1
        for i in range(last):
            name = comps[i]
            ent = node.get(name)
            if type(ent) is _Dir:
                node = ent
                continue
            if ent is None:
                if dirent is None:
                    return  # unlink under a missing directory: nothing to do
                node.changed = True
                node = self._new_subdir(node, name, _Dir({}, None))
                continue
            kind = self._kind(ent, key)
            if kind == "dirref":
                node = self._new_subdir(node, name, self._load_dir(ent, key))
            elif kind == "symlink":
                self._follow(key, ent, comps[i + 1 :], dirent, flags=flags, depth=depth)
                return
            elif kind == "dir":  # an inline dir (never stored by us): adopt it
                node.pop(name)
                self._insert(node, name, ent)
                node = node.entries[name]
            else:  # a value in the middle of the path
                if dirent is None:
                    return  # unlink through a value: nothing there
                node.changed = True
                node = self._new_subdir(node, name, _Dir({}, None))
        name = comps[last]
        if dirent is None:
            if node.pop(name):
                node.changed = True
        elif flags & APPEND:
            self._append(node, name, dirent, key)
        else:
            self._insert(node, name, dirent)

    def _follow(
        self,
        key: str,
        link: dict[str, Any],
        rest: list[str],
        dirent: dict[str, Any] | None,
        *,
        flags: int,
        depth: int,
    ) -> None:
        data = link["data"]
        ns = data.get("namespace")
        if ns is not None and ns != self.namespace:
            raise InvalidArgument(f"cannot write {key!r} through a symlink into namespace {ns!r}")
        if depth >= self.max_depth:
            raise SymlinkLoop(f"too many levels of symbolic links writing {key!r}")
        self.link(key, key_components(data["target"]) + rest, dirent, flags, depth + 1)

    # -- unroll -------------------------------------------------------------------

    def unroll(self, node: _Dir) -> dict[str, Any]:
        """Store ``node`` and its changed subdirectories; return its dirref."""
        entries = node.entries
        changed = node.changed
        for name in node.subdirs:
            child = entries.get(name)
            if type(child) is _Dir:
                new = self.unroll(child)
                entries[name] = new
                if new is not child.orig:
                    changed = True
        orig = node.orig
        if not changed and orig is not None:
            return orig
        base = node.base
        if base is not None:
            blob = dirs.derive(base, entries)
            ref = blob.ref if blob is base else self._store(blob)
            self.rewritten += blob.count
        elif self.lazy and len(entries) >= dirs.FRAGMENT_MIN:
            ref = self._store(dirs.create(entries, self.hash_name))
            self.rewritten += len(entries)
        else:
            obj = {"data": {n: entries[n] for n in sorted(entries)}, "type": "dir", "ver": _VER}
            data = treeobj.encode(obj)
            ref = self._store(data)
            if self.cache is not None:
                self.cache.prime(ref, data, obj)  # the next batch finds it decoded
            self.rewritten += len(entries)
        if orig is not None and orig["data"][0] == ref:
            return orig
        return {"data": [ref], "type": "dirref", "ver": _VER}


def apply_transactions(
    store: BlobStore,
    rootref: str,
    txns: Sequence[Sequence[dict[str, Any]]],
    *,
    inline_max: int = INLINE_MAX,
    compact: bool = False,
    namespace: str | None = None,
    max_depth: int = SYMLINK_MAX_DEPTH,
    cache: treeobj.DecodeCache | None = treeobj.DEFAULT_CACHE,
) -> ApplyResult:
    """Apply ``txns`` in order on top of ``rootref``; all succeed or none do.

    ``compact`` applies ``TXN_COMPACT`` to each transaction.  ``namespace`` is
    the name of the namespace being written: a symlink naming that namespace
    explicitly may be written through, any other namespace is ``EINVAL``.
    Raises a :class:`KVSError` (with ``txn_index``) on a bad op, or
    :class:`MissingObject` if ``store.load`` returned ``None``.  ``cache``
    memoises decoded directories across calls (None disables it).
    """
    app = _Applier(
        store,
        rootref,
        inline_max=inline_max,
        namespace=namespace,
        max_depth=max_depth,
        cache=cache,
    )
    keys: set[str] = set()
    for index, ops in enumerate(txns):
        try:
            for op in ops:
                validate_op(op)
            for op in compact_ops(ops) if compact else ops:
                key = normalize_key(op["key"])
                if key == ".":
                    what = "unlink" if op["dirent"] is None else "write"
                    raise InvalidArgument(f"cannot {what} the root directory (key {op['key']!r})")
                app.link(key, key.split("."), op["dirent"], op["flags"], 0)
                keys.add(key)
        except KVSError as err:
            err.txn_index = index
            raise
    root = app.unroll(app.root)
    return ApplyResult(
        rootref=root["data"][0],
        keys=tuple(sorted(keys)),
        dirents_rewritten=app.rewritten,
        new_refs=tuple(app.new_refs),
    )
