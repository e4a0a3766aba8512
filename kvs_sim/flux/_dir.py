"""The read half of ``flux.kvs``: values, directories (``KVSDir``) and ``walk``.

Theory of operation
-------------------
Every read is one lookup request to the handle's rank, waited for synchronously.
``get`` asks for a value; when the rank answers ``EISDIR`` it reads the key again
as a directory and returns a :class:`KVSDir`, exactly the two requests Flux's
binding makes.  ``exists``/``isdir`` turn ``ENOENT`` into ``False`` (and
``EISDIR`` into ``True``) and let every other error through: an empty key is
still ``EINVAL`` and a missing namespace ``ENOTSUP``.

A :class:`KVSDir` is a snapshot: its entries are listed once, when it is made,
and iteration, ``len``, ``files()``, ``directories()`` and ``walk`` use that
listing.  Item *reads* go to the KVS each time (``kd["x"]`` is a fresh ``get``,
so a missing key is ``KeyError``); item *writes* and deletes are staged in a
transaction shared with every sub-``KVSDir`` reached through ``kd[...]``, with
absolute keys, so one ``commit()`` (or leaving the ``with`` block) sends them
all.  ``files()`` and ``directories()`` are generators, as in Flux.
"""

from __future__ import annotations

import errno
from collections.abc import Generator, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

from kvs_sim.flux._args import check_key
from kvs_sim.flux._future import _CommitFuture
from kvs_sim.flux._txn import KVSTxn, _ns

if TYPE_CHECKING:
    from types import TracebackType

    from kvs_sim.flux.handle import Flux

__all__ = ["KVSDir", "exists", "get", "get_dir", "get_key_direct", "isdir", "join", "walk"]

_DIR_TYPES = ("dir", "dirref")


def get_key_direct(flux_handle: Flux, key: str, namespace: str | None = None) -> Any:
    """The decoded value at ``key`` (a directory is ``EISDIR``)."""
    check_key("get", key)
    return flux_handle._wait(flux_handle.handle.get(key, ns=_ns(namespace, "get")))


def _kind(flux_handle: Flux, key: str, namespace: str | None) -> str | None:
    """``"val"``, ``"dir"`` or None (missing); other errors are raised."""
    try:
        get_key_direct(flux_handle, key, namespace=namespace)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return None
        if err.errno == errno.EISDIR:
            return "dir"
        raise
    return "val"


def exists(flux_handle: Flux, key: str, namespace: str | None = None) -> bool:
    """True if ``key`` names a value or a directory; False if it is missing."""
    return _kind(flux_handle, key, namespace) is not None


def isdir(flux_handle: Flux, key: str, namespace: str | None = None) -> bool:
    """True if ``key`` names a directory; False for a value or a missing key."""
    return _kind(flux_handle, key, namespace) == "dir"


def get(flux_handle: Flux, key: str, namespace: str | None = None, _kvstxn: Any = None) -> Any:
    """The value at ``key``, decoded (JSON, else text, else bytes; empty -> None),
    or a :class:`KVSDir` if ``key`` is a directory."""
    try:
        return get_key_direct(flux_handle, key, namespace=namespace)
    except OSError as err:
        if err.errno != errno.EISDIR:
            raise
    return get_dir(flux_handle, key, namespace=namespace, _kvstxn=_kvstxn)


def get_dir(
    flux_handle: Flux, key: str = ".", namespace: str | None = None, _kvstxn: Any = None
) -> KVSDir:
    """The directory at ``key`` (``ENOTDIR`` for a value, ``ENOENT`` if missing)."""
    return KVSDir(flux_handle, key, namespace=namespace, _kvstxn=_kvstxn)


class KVSDir(MutableMapping[str, Any]):
    """A KVS directory as a mapping.  See the module docstring.

    ``handle`` exists for Flux's signature (a C ``flux_kvsdir_t``) and is ignored.
    """

    def __init__(
        self,
        flux_handle: Flux | None = None,
        path: str = ".",
        handle: Any = None,
        namespace: str | None = None,
        _kvstxn: KVSTxn | None = None,
    ) -> None:
        del handle
        if flux_handle is None:
            raise ValueError("flux_handle must be a valid Flux object")
        self.fhdl = flux_handle
        self.path = path
        if not path or path == ".":
            self._path = ""
        else:
            self._path = path if path.endswith(".") else path + "."
        self.namespace = namespace
        listing = flux_handle._wait(flux_handle.handle.lookup(path, ns=_ns(namespace), want="dir"))
        self._isdir: dict[str, bool] = {
            name: obj.get("type") in _DIR_TYPES for name, obj in sorted(listing.items())
        }
        self.kvstxn = _kvstxn if _kvstxn else KVSTxn(flux_handle, ".", namespace=namespace)

    # -- transactions -------------------------------------------------------------

    def commit(self, flags: int = 0) -> None:
        """Commit the staged writes (of this directory and those reached from it)."""
        try:
            self.kvstxn.commit(flags=flags)
        finally:
            self.kvstxn.clear()

    def commit_async(self, flags: int = 0) -> _CommitFuture:
        fut = self.kvstxn.commit_async(flags=flags)
        self.kvstxn.clear()
        return fut

    # -- names ----------------------------------------------------------------------

    def key_at(self, key: str) -> str:
        """The full key of ``key`` in this directory."""
        base = self.path.rstrip(".")
        return key if not base else f"{base}.{key}"

    def exists(self, name: str) -> bool:
        """True if ``name`` exists under this directory (asks the KVS)."""
        return exists(self.fhdl, self._path + name, namespace=self.namespace)

    # -- the mapping ---------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        try:
            return get(self.fhdl, self.key_at(key), namespace=self.namespace, _kvstxn=self.kvstxn)
        except OSError:
            raise KeyError(f"{key} not found under directory {self.path}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self.kvstxn.put(self._path + key, value)

    def __delitem__(self, key: str) -> None:
        self.kvstxn.unlink(self._path + key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._isdir))

    def __len__(self) -> int:
        return len(self._isdir)

    def fill(self, contents: Mapping[str, Any]) -> None:
        """Stage every ``key: value`` of ``contents`` (dotted keys make
        subdirectories) and commit."""
        if contents is None:
            raise ValueError("contents must be non-None")
        try:
            for key, value in contents.items():
                self[key] = value
        finally:
            self.commit()

    def mkdir(self, key: str, contents: Mapping[str, Any] | None = None) -> None:
        """Create (and commit) the subdirectory ``key``, then ``fill`` it."""
        self.kvstxn.mkdir(self._path + key)
        self.commit()
        if contents is not None:
            KVSDir(self.fhdl, self.key_at(key), namespace=self.namespace).fill(contents)

    def files(self) -> Generator[str, None, None]:
        """The names of the non-directory entries (a generator)."""
        return (name for name, is_dir in self._isdir.items() if not is_dir)

    def directories(self) -> Generator[str, None, None]:
        """The names of the subdirectories (a generator)."""
        return (name for name, is_dir in self._isdir.items() if is_dir)

    def list_all(self) -> tuple[list[str], list[str]]:
        """``(files, directories)`` as lists."""
        return list(self.files()), list(self.directories())

    def __enter__(self) -> KVSDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.commit()
        return False

    def __repr__(self) -> str:
        return f"<KVSDir {self.path!r} {len(self)} entries>"


def join(*args: str) -> str:
    """Join key fragments with dots, skipping empty ones (for :func:`walk`)."""
    return ".".join(a for a in args if len(a) > 0)


def _inner_walk(
    kvsdir: KVSDir, curr_dir: str, topdown: bool, namespace: str | None
) -> Iterator[tuple[str, Generator[str, None, None], Generator[str, None, None]]]:
    if topdown:
        yield (curr_dir, kvsdir.directories(), kvsdir.files())
    for directory in kvsdir.directories():
        sub = get_dir(kvsdir.fhdl, kvsdir.key_at(directory), namespace=namespace)
        yield from _inner_walk(sub, join(curr_dir, directory), topdown, namespace)
    if not topdown:
        yield (curr_dir, kvsdir.directories(), kvsdir.files())


def walk(
    directory: str | KVSDir,
    topdown: bool = False,
    flux_handle: Flux | None = None,
    namespace: str | None = None,
) -> Iterator[tuple[str, Generator[str, None, None], Generator[str, None, None]]]:
    """Walk a directory tree like ``os.walk``: ``(path, directories, files)``
    with paths relative to ``directory`` (``""`` for itself) and generators of
    names.  ``flux_handle`` is required when ``directory`` is a key."""
    if not isinstance(directory, KVSDir):
        if flux_handle is None:
            raise ValueError("If directory is a key, flux_handle must be specified")
        directory = KVSDir(flux_handle, directory, namespace=namespace)
    elif namespace is None:
        namespace = directory.namespace
    return _inner_walk(directory, "", topdown, namespace)
