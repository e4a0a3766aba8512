"""Errors raised by the KVS core, and the stall signals used by lookups.

Theory of operation
-------------------
Flux reports every KVS failure as an errno, and its Python binding raises
``OSError`` with that errno, which Python maps onto builtin subclasses such as
``FileNotFoundError``.  :class:`KVSError` reproduces that contract: it *is* an
``OSError`` (``err.errno``, ``err.strerror``), and each subclass also derives from
the matching builtin, so both ``except FileNotFoundError`` and
``if err.errno == errno.ENOENT`` work.

The text is Flux's: ``err.strerror`` is always the C library's text for the errno
(``os.strerror``), as in Flux's binding, so tests that match "No such file" hold.
What went wrong in words (naming the offending key, blobref or namespace) is kept
as ``err.detail``; the key a client asked about, when there is one, is the
exception's ``filename``.  So ``str(err)`` reads like any ``OSError``:
``[Errno 2] No such file or directory: 'a.b'`` with a key, else
``[Errno 95] Operation not supported: namespace 'x' does not exist``.
Ranks send :func:`message_of` (the detail) in replies, so it survives the trip.

:func:`error_for` turns an errno that travelled in a message (``Reply.errnum``)
back into the right class at the client boundary.

:class:`Stall` is deliberately *not* a ``KVSError``: it is not a failure the
client sees but a request to the caller ("fetch this object, then retry").  A
follower that catches :class:`MissingObject` faults the blobref in from its parent
and runs the lookup again; :class:`MissingRoot` asks for a namespace's root.
"""

from __future__ import annotations

import errno as _errno
import os as _os

__all__ = [
    "KEY_ERRNOS",
    "AlreadyExists",
    "InvalidArgument",
    "IsDirectory",
    "KVSError",
    "MissingObject",
    "MissingRoot",
    "NoData",
    "NoSuchKey",
    "NotDirectory",
    "NotSupported",
    "PermissionDenied",
    "ProtocolError",
    "Stall",
    "SymlinkLoop",
    "TimedOut",
    "error_for",
    "message_of",
]


class KVSError(OSError):
    """Base of every KVS failure; an ``OSError`` carrying a Flux errno.

    Construct as ``KVSError(errnum, detail, filename=None)``.  Subclasses fix the
    errno, so they may also be built from a detail alone:
    ``NoSuchKey("no such key 'a'")``.  ``strerror`` is ``os.strerror(errno)``;
    ``detail`` the words given; ``filename`` the key, if known (settable later:
    the client boundary fills it in, see :func:`error_for`).

    ``txn_index`` is set by :func:`kvs_sim.core.apply.apply_transactions` to the
    position of the failing transaction in a merged batch, else it is ``None``.
    """

    default_errno: int = _errno.EIO
    txn_index: int | None = None
    detail: str

    def __init__(
        self, errnum: int | str, message: str | None = None, filename: str | None = None
    ) -> None:
        text: str | None
        if isinstance(errnum, str):
            if message is not None:
                raise TypeError("KVSError(errnum, message): errnum must be an int")
            num, text = self.default_errno, errnum
        else:
            num, text = errnum, message
        strerror = _os.strerror(num)
        if filename is None:
            super().__init__(num, strerror)
        else:
            super().__init__(num, strerror, filename)
        self.detail = text if text is not None else strerror

    def __str__(self) -> str:
        if self.filename is not None or self.detail == self.strerror:
            return super().__str__()
        return f"[Errno {self.errno}] {self.strerror}: {self.detail}"

    def __reduce__(self) -> tuple[type, tuple[int | None, str, str | None]]:
        return (type(self), (self.errno, self.detail, self.filename))


class NoSuchKey(KVSError, FileNotFoundError):
    """ENOENT: the key, blob or checkpoint does not exist.

    Raised for a missing key, a path under a missing directory, a path that runs
    *through a value* (``a.val.x``), a dangling symlink, and by content stores for
    an absent blobref.  Not raised by unlink of a missing key (that succeeds).
    """

    default_errno = _errno.ENOENT


class IsDirectory(KVSError, IsADirectoryError):
    """EISDIR: a value was wanted but the key names a directory.

    Raised by a value lookup of a directory (including the root ``.``) and by an
    append to a directory.  Writing a value over a directory is *not* an error.
    """

    default_errno = _errno.EISDIR


class NotDirectory(KVSError, NotADirectoryError):
    """ENOTDIR: a directory listing was wanted but the key names a value."""

    default_errno = _errno.ENOTDIR


class InvalidArgument(KVSError):
    """EINVAL: a malformed request.

    Raised for an empty or non-string key, a write or unlink of the root ``.``,
    a malformed tree object or transaction op, ``readlink`` of a non-symlink, a
    write through a symlink into another namespace, and a non-compactable
    transaction under ``TXN_COMPACT``.
    """

    default_errno = _errno.EINVAL


class SymlinkLoop(KVSError):
    """ELOOP: resolving a key followed symlinks deeper than the limit (10)."""

    default_errno = _errno.ELOOP


class NotSupported(KVSError):
    """EOPNOTSUPP (== ENOTSUP on Linux): the operation cannot apply here.

    Raised when a namespace does not exist, when removing ``primary``, when
    appending to a symlink, and when a lookup meets a cross-namespace symlink but
    was given no namespace resolver.
    """

    default_errno = _errno.EOPNOTSUPP


class PermissionDenied(KVSError, PermissionError):
    """EPERM: the user is neither the namespace owner nor the instance owner."""

    default_errno = _errno.EPERM


class AlreadyExists(KVSError, FileExistsError):
    """EEXIST: creating a namespace that already exists."""

    default_errno = _errno.EEXIST


class TimedOut(KVSError, TimeoutError):
    """ETIMEDOUT: a wait (e.g. ``wait_version``) did not complete in time."""

    default_errno = _errno.ETIMEDOUT


class NoData(KVSError):
    """ENODATA: a watch stream ended because it was cancelled."""

    default_errno = _errno.ENODATA


class ProtocolError(KVSError):
    """EPROTO: bytes or objects that do not follow the protocol.

    Raised when stored bytes are not a valid tree object, when a ``dirref`` points
    at something that is not a directory, and for an append whose op carries a
    non-``val`` object.
    """

    default_errno = _errno.EPROTO


_BY_ERRNO: dict[int, type[KVSError]] = {
    cls.default_errno: cls
    for cls in (
        NoSuchKey,
        IsDirectory,
        NotDirectory,
        InvalidArgument,
        SymlinkLoop,
        NotSupported,
        PermissionDenied,
        AlreadyExists,
        TimedOut,
        NoData,
        ProtocolError,
    )
}
_BY_ERRNO[_errno.ENOTSUP] = NotSupported


KEY_ERRNOS = frozenset((_errno.ENOENT, _errno.EISDIR, _errno.ENOTDIR, _errno.EINVAL, _errno.ELOOP))
"""Errnos that describe the key itself, so the key is the exception's filename."""


def error_for(errnum: int, message: str, filename: str | None = None) -> KVSError:
    """Return the :class:`KVSError` subclass instance matching ``errnum``.

    Unknown errnos give a plain :class:`KVSError`, so no errno is ever lost.
    ``filename`` (the key the caller asked about) is kept only for the errnos
    that are about a key (``KEY_ERRNOS``); a namespace or permission error keeps
    its detail in ``str()`` instead.
    """
    name = filename if errnum in KEY_ERRNOS else None
    return _BY_ERRNO.get(errnum, KVSError)(errnum, message, name)


def message_of(err: BaseException) -> str:
    """The words to send in a reply for ``err``: its detail (or its text)."""
    detail = getattr(err, "detail", None)
    if isinstance(detail, str) and detail:
        return detail
    text = getattr(err, "strerror", None)
    return text if isinstance(text, str) and text else str(err)


# ---------------------------------------------------------------------------
# Stalls: "fetch something, then retry", never shown to a client.


class Stall(Exception):
    """A lookup or apply needs data that is not available locally yet."""


class MissingObject(Stall):
    """The loader returned ``None`` for ``ref``: fault it in and retry.

    ``refs`` lists every blobref known to be missing at that point (``ref``
    first), e.g. all absent blobs of a multi-blob value, so a follower can request
    them together.
    """

    def __init__(self, ref: str, refs: tuple[str, ...] | None = None) -> None:
        super().__init__(ref)
        self.ref = ref
        self.refs: tuple[str, ...] = refs if refs else (ref,)

    def __str__(self) -> str:
        return f"object {self.ref} is not available locally"


class MissingRoot(Stall):
    """The root of namespace ``ns`` is not known locally: fetch it and retry.

    The name is available as both ``ns`` and ``namespace``.
    """

    def __init__(self, ns: str) -> None:
        super().__init__(ns)
        self.ns = ns
        self.namespace = ns

    def __str__(self) -> str:
        return f"root of namespace {self.namespace!r} is not known locally"
