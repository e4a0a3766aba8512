"""Lookups: resolving a key against a root blobref, with stalls for misses.

Theory of operation
-------------------
A lookup walks from a root blobref down the key's path components.  It never
fetches anything itself: it asks a *loader* ``load(ref) -> bytes | None`` for each
object it needs.  ``None`` means "not held locally", and the lookup raises
:class:`MissingObject` (a :class:`Stall`, not an error).  A follower catches it,
faults the object in from its TBON parent, and simply runs the lookup again; the
work redone is a few dictionary probes, and a lookup holds no state between tries,
which is what lets one code path serve the leader (which holds everything), a
warm follower and a cold one.  Retrying is cheap because decoded directories are
memoised by blobref in a :class:`~kvs_sim.core.treeobj.DecodeCache` (the loader is
still asked for every object, so a rank's own cache accounting and expiry stay
exact).  The loader may also return an already decoded tree object (a ``dict``).

Resolution rules, following flux-core's ``lookup.c`` and observed Flux behaviour:

* a missing key, a path under a missing directory, a path that runs *through a
  value* (``a.val.x``) and a dangling symlink are all ``ENOENT``;
* symlinks met in the middle of a path are always followed; one at the end is
  followed unless the caller wants the link itself (``want="readlink"`` or
  ``"treeobj"``, as ``FLUX_KVS_READLINK`` and ``FLUX_KVS_TREEOBJ``);
* a symlink target is a key resolved from the **root of its namespace**, never
  relative to the directory holding the link (``lookup.c`` restarts each link at
  the root); a link carrying a ``namespace`` is resolved from that namespace's
  root, obtained from ``resolve_ns(name)`` (which may raise :class:`MissingRoot`);
* symlinks nest at most ``max_depth`` (10, Flux's ``SYMLINK_CYCLE_LIMIT``) deep,
  then ``ELOOP``.  Depth counts *nesting* (a link whose target path contains links),
  as in Flux, not the number of links on one path;
* the root ``.`` is a directory: as a value it is ``EISDIR``.

``want`` selects the answer, mirroring the lookup flags:

==============  =============================  =================================
want            directory                      value (``val``/``valref``)
==============  =============================  =================================
``"value"``     ``IsDirectory``                its bytes (``valref`` blobs joined)
``"dir"``       ``{name: tree object}``        ``NotDirectory``
``"any"``       ``("dir", entries)``           ``("val", bytes)``
``"readlink"``  ``InvalidArgument``            ``InvalidArgument``
``"treeobj"``   the final tree object (a final symlink is not followed)
==============  =============================  =================================

``"readlink"`` on a symlink answers ``(namespace or None, target)``.  Directory
listings returned are private copies the caller may keep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import treeobj
from .errors import (
    InvalidArgument,
    IsDirectory,
    KVSError,
    MissingObject,
    MissingRoot,
    NoSuchKey,
    NotDirectory,
    NotSupported,
    ProtocolError,
    Stall,
    SymlinkLoop,
)
from .keys import SYMLINK_MAX_DEPTH, key_components, normalize_key
from .treeobj import DEFAULT_CACHE, DecodeCache

__all__ = [
    "WANTS",
    "Loader",
    "MissingObject",
    "MissingRoot",
    "NsResolver",
    "Stall",
    "lookup",
    "lookup_kind",
]

#: ``load(ref)``: the object's bytes (or decoded dict), or None if not held here.
Loader = Callable[[str], Any]
#: ``resolve_ns(name)``: the current root blobref of namespace ``name``.
NsResolver = Callable[[str], str]

#: The accepted values of ``want``.
WANTS = ("value", "dir", "any", "readlink", "treeobj")
_WANTS = frozenset(WANTS)
_KIND = {"val": "val", "valref": "val", "dir": "dir", "dirref": "dir", "symlink": "symlink"}


class _Walker:
    """State of one lookup: the loader, resolver and a per-call directory memo."""

    __slots__ = ("cache", "dirs", "key", "load", "max_depth", "resolve_ns")

    def __init__(
        self,
        load: Loader,
        resolve_ns: NsResolver | None,
        max_depth: int,
        key: str,
        cache: DecodeCache | None,
    ) -> None:
        self.load = load
        self.cache = cache
        self.resolve_ns = resolve_ns
        self.max_depth = max_depth
        self.key = key
        self.dirs: dict[str, dict[str, Any]] = {}

    def corrupt(self, why: str) -> ProtocolError:
        return ProtocolError(f"corrupt tree resolving {self.key!r}: {why}")

    def check(self, ent: Any) -> str:
        """Shallow-validate an entry met on the path; return its type."""
        try:
            return str(treeobj.validate(ent, deep=False)["type"])
        except KVSError as e:
            raise self.corrupt(e.strerror or "invalid tree object") from None

    def entries(self, ent: dict[str, Any], kind: str) -> dict[str, Any] | None:
        """The entries of a directory dirent (shared: do not mutate), or None."""
        if kind == "dir":
            return ent["data"]
        if kind != "dirref":
            return None
        ref = ent["data"][0]
        cached = self.dirs.get(ref)
        if cached is not None:
            return cached
        raw = self.load(ref)
        if raw is None:
            raise MissingObject(ref)
        obj = treeobj.decode_loaded(ref, raw, self.cache)
        if obj.get("type") != "dir":
            raise self.corrupt(f"dirref {ref} names a {obj.get('type')!r}, not a dir")
        data: dict[str, Any] = obj["data"]
        self.dirs[ref] = data
        return data

    def walk(
        self,
        rootref: str,
        ns: str | None,
        comps: list[str],
        depth: int,
        follow_last: bool,
    ) -> tuple[dict[str, Any] | None, str, str | None]:
        """Resolve ``comps`` from ``rootref``; the final dirent (None: ENOENT)."""
        ent: dict[str, Any] = {"ver": 1, "type": "dirref", "data": [rootref]}
        kind = "dirref"
        last = len(comps) - 1
        for i, name in enumerate(comps):
            entries = self.entries(ent, kind)
            if entries is None:
                return None, rootref, ns  # the path runs through a value
            nxt = entries.get(name)
            if nxt is None:
                return None, rootref, ns
            ent = nxt
            kind = self.check(ent)
            if kind == "symlink" and (i < last or follow_last):
                found, rootref, ns = self.follow(ent, rootref, ns, depth)
                if found is None:
                    return None, rootref, ns
                ent = found
                kind = ent["type"]
        return ent, rootref, ns

    def follow(
        self, link: dict[str, Any], rootref: str, ns: str | None, depth: int
    ) -> tuple[dict[str, Any] | None, str, str | None]:
        if depth >= self.max_depth:
            raise SymlinkLoop(f"too many levels of symbolic links resolving {self.key!r}")
        data = link["data"]
        target_ns = data.get("namespace")
        if target_ns is not None and target_ns != ns:
            if self.resolve_ns is None:
                raise NotSupported(
                    f"{self.key!r} crosses into namespace {target_ns!r}, which is not available"
                )
            rootref, ns = self.resolve_ns(target_ns), target_ns
        return self.walk(rootref, ns, key_components(data["target"]), depth + 1, True)

    def value(self, ent: dict[str, Any], kind: str) -> bytes:
        if kind == "val":
            return treeobj.val_data(ent)
        blobs = []
        missing = []
        for ref in ent["data"]:
            blob = self.load(ref)
            if blob is None:
                missing.append(ref)
            elif not isinstance(blob, bytes | bytearray):
                raise self.corrupt(f"value blob {ref} is not raw data")
            else:
                blobs.append(blob)
        if missing:
            raise MissingObject(missing[0], tuple(missing))
        return bytes(blobs[0]) if len(blobs) == 1 else b"".join(blobs)


def _resolve(
    load: Loader,
    rootref: str,
    key: str,
    *,
    resolve_ns: NsResolver | None,
    max_depth: int,
    namespace: str | None,
    follow_last: bool,
    cache: DecodeCache | None,
) -> tuple[_Walker, dict[str, Any] | None, str]:
    norm = normalize_key(key)
    walker = _Walker(load, resolve_ns, max_depth, norm, cache)
    comps = norm.split(".") if norm != "." else []
    ent, _, _ = walker.walk(rootref, namespace, comps, 0, follow_last)
    return walker, ent, norm


def lookup(
    load: Loader,
    rootref: str,
    key: str,
    *,
    want: str = "value",
    resolve_ns: NsResolver | None = None,
    max_depth: int = SYMLINK_MAX_DEPTH,
    namespace: str | None = None,
    cache: DecodeCache | None = DEFAULT_CACHE,
) -> Any:
    """Resolve ``key`` under ``rootref`` and answer as ``want`` asks (see module).

    ``namespace`` names the namespace ``rootref`` belongs to, so a symlink that
    names it explicitly stays on this root instead of calling ``resolve_ns``.
    Raises a :class:`KVSError`, or a :class:`Stall` when an object or a
    namespace root must be fetched first.  ``cache`` memoises decoded
    directories (None disables it).
    """
    if want not in _WANTS:
        raise InvalidArgument(f"invalid lookup want {want!r}: expected one of {', '.join(WANTS)}")
    walker, ent, norm = _resolve(
        load,
        rootref,
        key,
        resolve_ns=resolve_ns,
        max_depth=max_depth,
        namespace=namespace,
        follow_last=want not in ("readlink", "treeobj"),
        cache=cache,
    )
    if ent is None:
        raise NoSuchKey(f"no such key {norm!r}")
    if want == "treeobj":
        return ent
    kind = ent["type"]
    group = _KIND[kind]
    if want == "readlink":
        if group != "symlink":
            raise InvalidArgument(f"key {norm!r} is not a symlink")
        data = ent["data"]
        return data.get("namespace"), data["target"]
    if group == "dir":
        if want == "value":
            raise IsDirectory(f"key {norm!r} is a directory")
        listing = dict(walker.entries(ent, kind) or {})
        return ("dir", listing) if want == "any" else listing
    if want == "dir":
        raise NotDirectory(f"key {norm!r} is not a directory")
    data_bytes = walker.value(ent, kind)
    return ("val", data_bytes) if want == "any" else data_bytes


def lookup_kind(
    load: Loader,
    rootref: str,
    key: str,
    *,
    resolve_ns: NsResolver | None = None,
    max_depth: int = SYMLINK_MAX_DEPTH,
    namespace: str | None = None,
    follow: bool = False,
    cache: DecodeCache | None = DEFAULT_CACHE,
) -> str | None:
    """What ``key`` is: ``"val"``, ``"dir"``, ``"symlink"``, or None if absent.

    A final symlink is reported as ``"symlink"`` unless ``follow`` is true, in
    which case its target's kind is returned (None if dangling).  Missing
    parents and paths through values give None; loops still raise ELOOP.
    """
    _, ent, _ = _resolve(
        load,
        rootref,
        key,
        resolve_ns=resolve_ns,
        max_depth=max_depth,
        namespace=namespace,
        follow_last=follow,
        cache=cache,
    )
    return None if ent is None else _KIND[ent["type"]]
