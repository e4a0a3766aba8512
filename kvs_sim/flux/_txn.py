"""The write half of ``flux.kvs``: staging operations and committing them.

Theory of operation
-------------------
Flux's binding stages writes in a transaction and sends them only on commit.
``put``/``put_mkdir``/``put_unlink``/``put_symlink`` add to the handle's pending
transaction (``Flux._kvs_txn``, created on first use) or, with ``_kvstxn=``, to
a :class:`KVSTxn`'s.  The transaction is a :class:`kvs_sim.core.txn.Txn`, which
checks key *syntax* at once (an empty key is ``EINVAL`` here) and leaves meaning
to the leader (``put(".", ...)`` fails at commit with ``EINVAL``).

Value encoding follows the binding: ``put`` JSON-encodes, and falls back to raw
bytes for a ``bytes`` value JSON cannot encode (so ``put(k, b"{}")`` reads back
``{}``); anything else JSON cannot encode is ``TypeError``.  ``raw=True`` stores
``bytes`` as they are and a ``str`` UTF-8 encoded; other types are
``AttributeError``.

``commit`` sends the handle's pending transaction and forgets it whether or not
the commit succeeds, so a failed commit does not poison the next one; with no
pending transaction it does nothing.  ``commit_async`` does the same without
waiting and returns a future (which also reports the commit's sequence).

Namespaces: ``namespace=None`` means ``$FLUX_KVS_NAMESPACE`` if set, else
``primary``, read at each call as Flux does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from kvs_sim.core.txn import Txn
from kvs_sim.flux._args import check_int, check_key, check_str
from kvs_sim.flux._future import _CommitFuture

if TYPE_CHECKING:
    from types import TracebackType

    from kvs_sim.flux.handle import Flux

__all__ = [
    "KVSTxn",
    "commit",
    "commit_async",
    "put",
    "put_mkdir",
    "put_symlink",
    "put_unlink",
]

PRIMARY = "primary"
NAMESPACE_ENV = "FLUX_KVS_NAMESPACE"


def _ns(namespace: str | None, func: str = "flux.kvs") -> str:
    """The namespace a call uses: the argument, else the environment, else primary."""
    if namespace is not None:
        return check_str(func, "namespace", namespace)
    env = os.environ.get(NAMESPACE_ENV)
    return PRIMARY if env is None else env


def _get_kvstxn(flux_handle: Flux, _kvstxn: Any) -> Txn:
    """The transaction a staging call adds to (the handle's, created if needed)."""
    if _kvstxn is None:
        if flux_handle._kvs_txn is None:
            flux_handle._kvs_txn = Txn()
        txn: Txn = flux_handle._kvs_txn
        return txn
    if isinstance(_kvstxn, KVSTxn):
        return _kvstxn.txn
    if isinstance(_kvstxn, Txn):
        return _kvstxn
    raise TypeError(f"_kvstxn must be a KVSTxn, not {type(_kvstxn).__name__}")


def put(flux_handle: Flux, key: str, value: Any, raw: bool = False, _kvstxn: Any = None) -> None:
    """Stage ``key = value`` (JSON-encoded, or raw bytes with ``raw=True``)."""
    check_key("put", key)
    _stage_put(_get_kvstxn(flux_handle, _kvstxn), key, value, raw)


def _stage_put(txn: Txn, key: str, value: Any, raw: bool) -> None:
    if raw:
        txn.put_raw(key, value)
        return
    try:
        txn.put(key, value)
    except TypeError as exc:
        if isinstance(value, bytes):
            txn.put_raw(key, value)
            return
        raise TypeError(f"cannot put {type(value).__name__} value at {key!r}: {exc}") from exc


def put_mkdir(flux_handle: Flux, key: str, _kvstxn: Any = None) -> None:
    """Stage the creation of an empty directory at ``key``."""
    check_key("put_mkdir", key)
    _get_kvstxn(flux_handle, _kvstxn).mkdir(key)


def put_unlink(flux_handle: Flux, key: str, _kvstxn: Any = None) -> None:
    """Stage the removal of ``key`` (a missing key is not an error at commit)."""
    check_key("put_unlink", key)
    _get_kvstxn(flux_handle, _kvstxn).unlink(key)


def put_symlink(flux_handle: Flux, key: str, target: str, _kvstxn: Any = None) -> None:
    """Stage a symlink ``key -> target`` (in the namespace it is committed to)."""
    check_key("put_symlink", key)
    check_str("put_symlink", "target", target)
    _get_kvstxn(flux_handle, _kvstxn).symlink(key, target)


def _send(
    flux_handle: Flux, txn: Txn, flags: int, namespace: str | None, func: str
) -> _CommitFuture:
    check_int(func, "flags", flags)
    fut = flux_handle.handle.commit(txn, ns=_ns(namespace, func), flags=flags)
    return _CommitFuture(flux_handle, fut)


def commit(
    flux_handle: Flux, flags: int = 0, namespace: str | None = None, _kvstxn: Any = None
) -> None:
    """Commit the staged operations and wait for the answer (raises its error).

    The handle's pending transaction is dropped even if the commit fails (but
    not when the arguments are refused before anything is sent)."""
    check_int("commit", "flags", flags)
    if _kvstxn is None:
        txn = flux_handle._kvs_txn
        if txn is None:
            return
        try:
            _send(flux_handle, txn, flags, namespace, "commit").get()
        finally:
            flux_handle._kvs_txn = None
    else:
        _send(flux_handle, _get_kvstxn(flux_handle, _kvstxn), flags, namespace, "commit").get()


def commit_async(
    flux_handle: Flux, flags: int = 0, namespace: str | None = None, _kvstxn: Any = None
) -> _CommitFuture:
    """Like :func:`commit` but returns at once with a future (``get()``,
    ``then()``, ``get_sequence()``; awaitable).  Commits an empty transaction if
    nothing is staged."""
    check_int("commit_async", "flags", flags)
    if _kvstxn is None:
        txn = flux_handle._kvs_txn if flux_handle._kvs_txn is not None else Txn()
        flux_handle._kvs_txn = None
    else:
        txn = _get_kvstxn(flux_handle, _kvstxn)
    return _send(flux_handle, txn, flags, namespace, "commit_async")


class KVSTxn:
    """A transaction of its own, with keys relative to ``path``.

    A context manager: the transaction is committed when the block exits.
    """

    def __init__(
        self, flux_handle: Flux | None = None, path: str = ".", namespace: str | None = None
    ) -> None:
        self.fhdl = flux_handle
        self.path = path
        if not path or path == ".":
            self._path = ""
        else:
            self._path = path if path.endswith(".") else path + "."
        self.namespace = namespace
        self.txn = Txn()

    def _handle(self) -> Flux:
        if self.fhdl is None:
            raise ValueError("this KVSTxn has no Flux handle to commit with")
        return self.fhdl

    def commit(self, flags: int = 0) -> None:
        """Commit and clear; an empty transaction sends nothing."""
        if not len(self.txn):
            return
        try:
            commit(self._handle(), flags=flags, namespace=self.namespace, _kvstxn=self.txn)
        finally:
            self.clear()

    def commit_async(self, flags: int = 0) -> _CommitFuture:
        """Commit without waiting; the transaction is cleared at once."""
        fut = commit_async(self._handle(), flags=flags, namespace=self.namespace, _kvstxn=self.txn)
        self.clear()
        return fut

    def put(self, key: str, value: Any, raw: bool = False) -> None:
        """Stage ``key = value`` (encoded as :func:`put` does)."""
        _stage_put(self.txn, self._path + key, value, raw)

    def mkdir(self, key: str) -> None:
        self.txn.mkdir(self._path + key)

    def unlink(self, key: str) -> None:
        self.txn.unlink(self._path + key)

    def symlink(self, key: str, target: str) -> None:
        self.txn.symlink(self._path + key, target)

    def clear(self) -> None:
        """Drop every staged operation."""
        self.txn.clear()

    def __enter__(self) -> KVSTxn:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.commit()
        return False
