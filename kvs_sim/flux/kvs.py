"""``flux.kvs``: Flux's Python KVS API, answered by a simulated instance.

Theory of operation
-------------------
The names, signatures, defaults and behaviour are those of flux-core's
``flux.kvs`` module, so a script written for Flux runs here unchanged (and a
script written here runs on Flux).  Every function takes a
:class:`~kvs_sim.flux.handle.Flux` handle and works through its plain
:class:`~kvs_sim.handle.Handle`:

* blocking calls (``get``, ``commit``, ``namespace_create``, ...) send one
  request and advance virtual time until its answer arrives, then return the
  value or raise the ``OSError`` (a :class:`~kvs_sim.core.errors.KVSError`) the
  rank answered, just as Flux's binding runs the reactor until the response;
* ``commit_async`` and ``kvs_watch_async`` return futures at once (``get``,
  ``then`` + ``Flux.reactor_run``, or ``await`` in an ``async def`` process);
* like Flux's C API (``flux_kvs_get_version``, ``flux_kvs_wait_version``,
  ``flux_kvs_getroot``) there are :func:`get_version`, :func:`wait_version` and
  :func:`getroot`: the tools of a causal hand-off.  After a commit *on a
  follower* the commit response reports the previous version (Flux 0.88, see
  ``flux-kvs-model.md``); the version to hand on is ``get_version()`` taken after
  the commit.

The read half lives in :mod:`kvs_sim.flux._dir`, the write half in
:mod:`kvs_sim.flux._txn`, futures in :mod:`kvs_sim.flux._future`; this module is
the public surface.  ``namespace=None`` means ``$FLUX_KVS_NAMESPACE`` if set,
else ``primary``, for every function that takes a namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvs_sim.core import flags as _flags
from kvs_sim.core.keys import normalize_key
from kvs_sim.flux._args import check_int, check_key, check_number, check_str
from kvs_sim.flux._dir import KVSDir, exists, get, get_dir, get_key_direct, isdir, join, walk
from kvs_sim.flux._future import Future, KVSWatchFuture
from kvs_sim.flux._txn import (
    KVSTxn,
    _ns,
    commit,
    commit_async,
    put,
    put_mkdir,
    put_symlink,
    put_unlink,
)

if TYPE_CHECKING:
    from kvs_sim.flux.handle import Flux

__all__ = [
    "Future",
    "KVSDir",
    "KVSTxn",
    "KVSWatchFuture",
    "commit",
    "commit_async",
    "dropcache",
    "exists",
    "get",
    "get_dir",
    "get_key_direct",
    "get_version",
    "getroot",
    "isdir",
    "join",
    "kvs_checkpoint_lookup",
    "kvs_watch_async",
    "namespace_create",
    "namespace_list",
    "namespace_remove",
    "put",
    "put_mkdir",
    "put_symlink",
    "put_unlink",
    "wait_version",
    "walk",
]


# -- namespaces and the cache ------------------------------------------------------


def namespace_create(
    flux_handle: Flux, namespace: str, owner: int | None = None, flags: int = 0
) -> None:
    """Create ``namespace`` owned by ``owner`` (default: the caller's uid).

    Only the instance owner may create namespaces (``EPERM``); an existing
    name is ``EEXIST``."""
    check_str("namespace_create", "namespace", namespace)
    owner = flux_handle.userid if owner is None else check_int("namespace_create", "owner", owner)
    check_int("namespace_create", "flags", flags)
    flux_handle._wait(flux_handle.handle.namespace_create(namespace, owner, flags))


def namespace_remove(flux_handle: Flux, namespace: str) -> None:
    """Remove ``namespace``; removal completes in the background (a missing
    namespace is fine, ``primary`` is ``ENOTSUP``)."""
    check_str("namespace_remove", "namespace", namespace)
    flux_handle._wait(flux_handle.handle.namespace_remove(namespace))


def namespace_list(flux_handle: Flux) -> list[str]:
    """The names of every namespace."""
    listing = flux_handle._wait(flux_handle.handle.namespace_list())
    return [entry["namespace"] for entry in listing]


def dropcache(flux_handle: Flux) -> None:
    """Ask the handle's rank to drop its unreferenced cache entries."""
    flux_handle._wait(flux_handle.handle.dropcache())


# -- watches ------------------------------------------------------------------------


def kvs_watch_async(  # noqa: PLR0917 - Flux's signature
    flux_handle: Flux,
    key: str,
    namespace: str | None = None,
    waitcreate: bool = False,
    uniq: bool = False,
    append: bool = False,
    full: bool = False,
) -> KVSWatchFuture:
    """Watch ``key``: a :class:`KVSWatchFuture` answering its value now and again
    each time a commit changes it.

    ``waitcreate``: wait for a missing key to appear instead of ``ENOENT``;
    ``uniq``: only answers that differ from the previous one; ``append``: after
    the first answer, only the data appended since; ``full``: also notice changes
    made through a parent directory (its removal ends the stream with ``ENOENT``).
    ``cancel()`` ends the stream: ``get()`` then returns None.
    """
    normalize_key(check_key("kvs_watch_async", key))
    flags = _flags.WATCH
    if waitcreate:
        flags |= _flags.WAITCREATE
    if uniq:
        flags |= _flags.WATCH_UNIQ
    if append:
        flags |= _flags.WATCH_APPEND
    if full:
        flags |= _flags.WATCH_FULL
    stream = flux_handle.handle.watch(key, ns=_ns(namespace, "kvs_watch_async"), flags=flags)
    return KVSWatchFuture(flux_handle, stream)


# -- checkpoints and versions ----------------------------------------------------------


def kvs_checkpoint_lookup(flux_handle: Flux, cache_bypass: bool = False) -> list[dict[str, Any]]:
    """The checkpoints of the primary namespace, newest first, each
    ``{version, sequence, timestamp, rootref}``; ``ENOENT`` if none was written
    (a ``FLUX_KVS_SYNC`` commit writes one).  The simulator keeps only the last."""
    del cache_bypass  # one store, no cache in front of it to bypass
    checkpoint = flux_handle._wait(flux_handle.handle.checkpoint_lookup())
    return [dict(checkpoint)]


def get_version(flux_handle: Flux, namespace: str | None = None) -> int:
    """The root version (sequence) the handle's rank currently serves."""
    ns = _ns(namespace, "get_version")
    version: int = flux_handle._wait(flux_handle.handle.get_version(ns=ns))
    return version


def wait_version(
    flux_handle: Flux, version: int, namespace: str | None = None, timeout: float | None = None
) -> None:
    """Block until the handle's rank serves ``version`` or newer.

    ``timeout`` (seconds of virtual time): ``ETIMEDOUT`` if it passes first."""
    check_int("wait_version", "version", version)
    if timeout is not None:
        timeout = check_number("wait_version", "timeout", timeout)
    ns = _ns(namespace, "wait_version")
    flux_handle._wait(flux_handle.handle.wait_version(version, ns=ns, timeout=timeout))


def getroot(flux_handle: Flux, namespace: str | None = None) -> dict[str, Any]:
    """The namespace's root on the handle's rank: ``{"blobref", "sequence",
    "owner", "treeobj"}`` (the getters of ``flux_kvs_getroot``)."""
    root = flux_handle._wait(flux_handle.handle.getroot(ns=_ns(namespace, "getroot")))
    return {
        "blobref": root["rootref"],
        "sequence": root["seq"],
        "owner": root["owner"],
        "treeobj": {"ver": 1, "type": "dirref", "data": [root["rootref"]]},
    }
