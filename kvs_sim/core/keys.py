"""KVS key syntax: dotted paths, normalised the way Flux normalises them.

Theory of operation
-------------------
A key is a ``.``-separated path of directory entry names.  Flux tolerates
redundant dots: ``a..b`` is ``a.b`` and leading or trailing dots are dropped.  A
key made only of dots is the root directory, spelled ``"."``.  The empty string is
not a key (``EINVAL``).

Normalisation runs on every lookup and every transaction op, so the common case
(an already-clean key) returns the argument itself after three cheap checks and
allocates nothing.  Functions here never touch a tree; they only shape strings.
"""

from __future__ import annotations

from .errors import InvalidArgument

__all__ = [
    "ROOT",
    "SYMLINK_MAX_DEPTH",
    "is_root",
    "join_key",
    "key_components",
    "key_prefixes",
    "normalize_key",
    "parent_and_name",
    "split_namespace",
]

#: The key of the root directory.
ROOT = "."

#: How deeply symlinks may nest while resolving one key before ``ELOOP``
#: (flux-core's ``SYMLINK_CYCLE_LIMIT``).
SYMLINK_MAX_DEPTH = 10


def _invalid(key: object) -> InvalidArgument:
    return InvalidArgument(f"invalid key {key!r}")


def normalize_key(key: str) -> str:
    """Return the canonical spelling of ``key``.

    ``"a..b"`` -> ``"a.b"``, ``".a.b."`` -> ``"a.b"``, ``"..."`` -> ``"."``.
    Raises :class:`InvalidArgument` (``invalid key ''``) for an empty string or a
    non-string.
    """
    if type(key) is not str:
        if not isinstance(key, str):
            raise _invalid(key)
        key = str(key)
    if not key:
        raise _invalid(key)
    if key[0] != "." and key[-1] != "." and ".." not in key:
        return key
    parts = [p for p in key.split(".") if p]
    return ".".join(parts) if parts else ROOT


def key_components(key: str) -> list[str]:
    """Split ``key`` into entry names; ``[]`` for the root.

    >>> key_components("a..b.c")
    ['a', 'b', 'c']
    """
    norm = normalize_key(key)
    if norm == ROOT:
        return []
    return norm.split(".")


def join_key(*parts: str) -> str:
    """Join key fragments with dots and normalise: ``join_key("a", "b.c")``.

    Fragments may themselves be dotted or be the root ``"."``; joining nothing
    but roots (or nothing at all) gives the root.
    """
    for part in parts:
        if not isinstance(part, str):
            raise _invalid(part)
    joined = ".".join(p for p in parts if p)
    return normalize_key(joined) if joined else ROOT


def parent_and_name(key: str) -> tuple[str, str]:
    """Split ``key`` into its parent directory key and final entry name.

    ``"a.b.c"`` -> ``("a.b", "c")``; ``"a"`` -> ``(".", "a")``.  The root has no
    parent: :class:`InvalidArgument`.
    """
    norm = normalize_key(key)
    if norm == ROOT:
        raise InvalidArgument(f"invalid key {key!r}: the root has no parent")
    parent, dot, name = norm.rpartition(".")
    return (parent if dot else ROOT), name


def is_root(key: str) -> bool:
    """True if ``key`` normalises to the root directory ``"."``."""
    return normalize_key(key) == ROOT


def key_prefixes(key: str) -> list[str]:
    """The keys of every directory above ``key``, outermost first.

    ``"a.b.c"`` -> ``[".", "a", "a.b"]``.  A watcher with ``WATCH_FULL`` cares
    about changes to any of these, since rewriting a parent can change the key.
    """
    comps = key_components(key)
    if not comps:
        return []
    out = [ROOT]
    for i in range(1, len(comps)):
        out.append(".".join(comps[:i]))
    return out


def split_namespace(key: str) -> tuple[str | None, str]:
    """Split the command-line form ``ns::key`` into ``(ns, key)``.

    A key without ``::`` gives ``(None, key)``.  Both halves must be non-empty:
    ``"::a"`` and ``"ns::"`` are :class:`InvalidArgument`.  The key half is
    normalised.
    """
    if not isinstance(key, str):
        raise _invalid(key)
    ns, sep, rest = key.partition("::")
    if not sep:
        return None, normalize_key(key)
    if not ns or not rest:
        raise _invalid(key)
    return ns, normalize_key(rest)
