"""KVS namespaces: named roots with an owner, and who may use them.

Theory of operation
-------------------
A namespace is an independent hash tree: a name, the uid that owns it, its
current root blobref and the sequence number (version) of that root.  ``primary``
always exists and belongs to the instance owner; other namespaces are created
with an owner uid.  Only that owner and the instance owner may read, commit to, or
administer a namespace (``EPERM`` for anyone else).

:class:`NamespaceRegistry` is the bookkeeping a rank keeps for the namespaces it
knows: a dict of immutable :class:`Namespace` records, replaced (never mutated)
on every root update, so a record handed out is a consistent snapshot.  It holds
no tree data and performs no I/O; the leader and followers layer their own
state (waiters, watches, removal in progress) on top of it.

Error conventions follow Flux: creating an existing namespace is ``EEXIST``;
using a missing one is ``ENOTSUP`` ("namespace X does not exist"); removing a
missing one succeeds; removing ``primary`` is ``ENOTSUP``.  A root only moves
forward: :meth:`NamespaceRegistry.update` refuses an older sequence number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .content import is_blobref
from .errors import AlreadyExists, InvalidArgument, NotSupported, PermissionDenied

__all__ = ["PRIMARY", "Namespace", "NamespaceRegistry", "authorize_commit", "check_access"]

#: The namespace every instance has, owned by the instance owner.
PRIMARY = "primary"


@dataclass(frozen=True, slots=True)
class Namespace:
    """One namespace's identity and current root (an immutable snapshot)."""

    name: str
    owner: int
    rootref: str
    seq: int = 0
    flags: int = 0


def check_access(ns: Namespace, userid: int, instance_owner: int) -> None:
    """Raise :class:`PermissionDenied` unless ``userid`` may use ``ns``."""
    if userid not in (instance_owner, ns.owner):
        raise PermissionDenied(f"user {userid} may not access namespace {ns.name!r}")


def authorize_commit(ops: Iterable[Mapping[str, Any]], userid: int, instance_owner: int) -> None:
    """Raise :class:`PermissionDenied` if a guest's transaction holds what guests
    may not write.

    The instance owner may commit anything.  A guest (any other user, already
    allowed into the namespace by :func:`check_access`, so its owner) may commit
    only values (``val``), unlinks (no dirent) and *empty* directories, as Flux
    enforces: a ``valref``, ``dirref``, ``symlink`` or non-empty ``dir`` could
    point at content the guest was never given, so it is ``EPERM``.
    """
    if userid == instance_owner:
        return
    for op in ops:
        dirent = op.get("dirent")
        if dirent is None:
            continue
        kind = dirent.get("type")
        if kind == "val" or (kind == "dir" and not dirent.get("data")):
            continue
        what = f"non-empty {kind}" if kind == "dir" else str(kind)
        raise PermissionDenied(f"guests may not commit {what} objects (key {op.get('key')!r})")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"invalid namespace name {name!r}")
    return name


class NamespaceRegistry:
    """The namespaces a rank knows, by name."""

    __slots__ = ("_spaces", "instance_owner")

    def __init__(self, instance_owner: int) -> None:
        self.instance_owner = instance_owner
        self._spaces: dict[str, Namespace] = {}

    def create(
        self, name: str, owner: int, rootref: str, seq: int = 0, flags: int = 0
    ) -> Namespace:
        """Add a namespace; :class:`AlreadyExists` if the name is taken."""
        _check_name(name)
        if name in self._spaces:
            raise AlreadyExists(f"namespace {name!r} already exists")
        if not is_blobref(rootref):
            raise InvalidArgument(f"invalid root blobref {rootref!r} for namespace {name!r}")
        if seq < 0:
            raise InvalidArgument(f"invalid sequence {seq} for namespace {name!r}")
        ns = Namespace(name, owner, rootref, seq, flags)
        self._spaces[name] = ns
        return ns

    def get(self, name: str) -> Namespace:
        """The namespace ``name``; :class:`NotSupported` if it does not exist."""
        ns = self._spaces.get(name)
        if ns is None:
            raise NotSupported(f"namespace {name!r} does not exist")
        return ns

    def find(self, name: str) -> Namespace | None:
        """The namespace ``name``, or None (no error) if unknown."""
        return self._spaces.get(name)

    def remove(self, name: str) -> None:
        """Forget ``name``; a missing one is fine, ``primary`` is NotSupported."""
        if name == PRIMARY:
            raise NotSupported(f"namespace {PRIMARY!r} cannot be removed")
        self._spaces.pop(name, None)

    def update(self, name: str, rootref: str, seq: int) -> Namespace:
        """Move ``name`` to a new root; returns the new record.

        The sequence may not go backwards (:class:`InvalidArgument`): callers
        applying setroot events should skip stale ones before calling this.
        """
        ns = self.get(name)
        if seq < ns.seq:
            raise InvalidArgument(
                f"namespace {name!r} is at sequence {ns.seq}; refusing to go back to {seq}"
            )
        if not is_blobref(rootref):
            raise InvalidArgument(f"invalid root blobref {rootref!r} for namespace {name!r}")
        new = Namespace(ns.name, ns.owner, rootref, seq, ns.flags)  # replace() costs 3x
        self._spaces[name] = new
        return new

    def check_access(self, ns: Namespace, userid: int) -> None:
        """:class:`PermissionDenied` unless ``userid`` owns ``ns`` or the instance."""
        check_access(ns, userid, self.instance_owner)

    def names(self) -> list[str]:
        """Sorted names of every known namespace."""
        return sorted(self._spaces)

    def __contains__(self, name: object) -> bool:
        return name in self._spaces

    def __len__(self) -> int:
        return len(self._spaces)

    def __iter__(self) -> Iterator[Namespace]:
        return iter([self._spaces[n] for n in sorted(self._spaces)])

    def __repr__(self) -> str:
        return f"<NamespaceRegistry owner={self.instance_owner} {self.names()}>"
