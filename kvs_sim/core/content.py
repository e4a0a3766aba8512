"""Content-addressed storage (RFC 10): blobs named by the hash of their bytes.

Theory of operation
-------------------
Every tree object and every large value is stored as a *blob* under its
*blobref*, ``"<hash>-<hex digest>"`` (``sha1-...`` by default, ``sha256-...``
optionally).  Because the name is derived from the bytes, storing is idempotent
(storing the same bytes twice is a no-op that returns the same ref) and a ref can
be trusted to name exactly one content forever, which is what lets followers
cache objects without invalidation.

:class:`ContentStore` is the interface the leader's commit path and the
simulator use.  Two implementations:

* :class:`MemoryStore`: a dict, for simulations and tests;
* :class:`SQLiteStore`: one SQLite file in WAL mode, like Flux's
  ``content-sqlite`` backing store.  Writes are batched in one open SQLite
  transaction and become durable on :meth:`~ContentStore.flush`,
  :meth:`~ContentStore.put_checkpoint` or :meth:`~ContentStore.close`, mirroring
  Flux where a ``SYNC`` commit is "content.flush, then checkpoint".

Flux keeps the KVS *checkpoint* (``version``, ``sequence``, ``timestamp``,
``rootref``) in the backing store too, so a restarted leader resumes from the last
checkpointed root; both stores keep the latest one.

A blob may also be stored as a :class:`LazyBlob`: an object that knows its
blobref and size and produces its bytes on demand (``bytes(blob)``).  The leader's
large directories are kept that way (:mod:`kvs_sim.core.dirs`: one version costs
its changes, not a copy of the whole directory).  :class:`MemoryStore` keeps the
object as it is; :class:`SQLiteStore` writes its bytes.  :meth:`ContentStore.load`
always answers bytes.

Stores count their traffic in :class:`StoreStats` so the simulator can charge
service time per object and per byte.  Nothing here reads a clock.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidArgument, NoSuchKey

__all__ = [
    "HASHES",
    "ContentStore",
    "LazyBlob",
    "MemoryStore",
    "SQLiteStore",
    "StoreStats",
    "as_bytes",
    "blobref",
    "is_blobref",
]

#: Hash algorithms a blobref may use, as spelled in the blobref prefix.
HASHES = ("sha1", "sha256")

_HASHERS: dict[str, Callable[[bytes], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
_BLOBREF_RE = re.compile(r"(?:sha1-[0-9a-f]{40}|sha256-[0-9a-f]{64})\Z")


def _check_hash(hash_name: str) -> str:
    if hash_name not in _HASHERS:
        raise InvalidArgument(f"unknown hash {hash_name!r}: expected one of {', '.join(HASHES)}")
    return hash_name


def blobref(data: bytes, hash_name: str = "sha1") -> str:
    """The blobref of ``data``: ``"sha1-<40 hex digits>"`` by default."""
    hasher = _HASHERS.get(hash_name)
    if hasher is None:
        raise InvalidArgument(f"unknown hash {hash_name!r}: expected one of {', '.join(HASHES)}")
    return f"{hash_name}-{hasher(data).hexdigest()}"


def is_blobref(s: object) -> bool:
    """True if ``s`` is a well-formed blobref string (known hash, right length)."""
    return isinstance(s, str) and _BLOBREF_RE.match(s) is not None


class LazyBlob(ABC):
    """A blob whose bytes are produced on demand; ``ref`` is their blobref (in the
    hash of the store it goes into) and ``len()`` their length."""

    __slots__ = ()

    ref: str

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __bytes__(self) -> bytes: ...


def as_bytes(data: bytes | LazyBlob) -> bytes:
    """The bytes of a blob as a store holds it (a :class:`LazyBlob` is materialised)."""
    return data if type(data) is bytes else bytes(data)


def _check_checkpoint(cp: object) -> dict[str, Any]:
    if not isinstance(cp, dict) or not is_blobref(cp.get("rootref")):
        raise InvalidArgument(f"invalid checkpoint {cp!r}: needs a 'rootref' blobref")
    return cp


@dataclass(slots=True)
class StoreStats:
    """Traffic counters of one store.

    ``stores`` counts every :meth:`ContentStore.store` call and ``bytes_stored``
    their bytes, including no-op stores of content already present (counted
    again in ``noop_stores``); ``loads``/``bytes_loaded`` count successful loads;
    ``objects`` is the number of distinct blobs held.
    """

    stores: int = 0
    loads: int = 0
    bytes_stored: int = 0
    bytes_loaded: int = 0
    objects: int = 0
    noop_stores: int = 0


class ContentStore(ABC):
    """A content-addressed blob store with a checkpoint slot.

    Subclasses implement the ``_get``/``_put`` primitives; this class does the
    hashing and the accounting.  ``accepts_lazy``: :meth:`store` takes
    :class:`LazyBlob` objects too.
    """

    accepts_lazy = True
    _keeps_lazy = False  # hold a LazyBlob as it is (else its bytes)

    def __init__(self, hash_name: str = "sha1") -> None:
        self.hash_name = _check_hash(hash_name)
        self._hasher = _HASHERS[hash_name]
        self._prefix = hash_name + "-"
        self.stats = StoreStats()

    # -- primitives ---------------------------------------------------------
    @abstractmethod
    def _get(self, ref: str) -> bytes | LazyBlob | None: ...

    @abstractmethod
    def _put(self, ref: str, data: bytes | LazyBlob) -> bool:
        """Insert ``data`` under ``ref``; return False if it was already there."""

    @abstractmethod
    def __contains__(self, ref: object) -> bool: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def put_checkpoint(self, cp: dict[str, Any]) -> None:
        """Record ``cp`` (``version``, ``sequence``, ``timestamp``, ``rootref``)."""

    @abstractmethod
    def get_checkpoint(self) -> dict[str, Any] | None:
        """The last checkpoint recorded, or ``None`` if there is none."""

    # -- public API ---------------------------------------------------------
    def store(self, data: bytes | LazyBlob) -> str:
        """Store ``data`` and return its blobref; storing twice is harmless."""
        held: bytes | LazyBlob
        if type(data) is not bytes and isinstance(data, LazyBlob):  # (an ABC check is slow)
            ref = data.ref
            if not ref.startswith(self._prefix):
                raise InvalidArgument(f"blob {ref} is not named by {self.hash_name}")
            held = data if self._keeps_lazy else bytes(data)
        else:
            held = data = bytes(data)
            ref = self._prefix + self._hasher(data).hexdigest()
        stats = self.stats
        stats.stores += 1
        stats.bytes_stored += len(data)
        if self._put(ref, held):
            stats.objects += 1
        else:
            stats.noop_stores += 1
        return ref

    def load(self, ref: str) -> bytes:
        """The bytes stored under ``ref``; :class:`NoSuchKey` naming it if absent."""
        held = self._get(ref)
        if held is None:
            raise NoSuchKey(f"no such blob {ref!r} in content store")
        data = as_bytes(held)
        stats = self.stats
        stats.loads += 1
        stats.bytes_loaded += len(data)
        return data

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Make every stored blob durable (no-op for memory stores)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources; the store is unusable afterwards."""

    def __enter__(self) -> ContentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hash_name} objects={len(self)}>"


class MemoryStore(ContentStore):
    """A store held in a dict; fast, and gone when the process ends."""

    _keeps_lazy = True

    def __init__(self, hash_name: str = "sha1") -> None:
        super().__init__(hash_name)
        self._blobs: dict[str, bytes | LazyBlob] = {}
        self._checkpoint: dict[str, Any] | None = None

    def _get(self, ref: str) -> bytes | LazyBlob | None:
        return self._blobs.get(ref)

    def _put(self, ref: str, data: bytes | LazyBlob) -> bool:
        if ref in self._blobs:
            return False
        self._blobs[ref] = data
        return True

    def __contains__(self, ref: object) -> bool:
        return ref in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def put_checkpoint(self, cp: dict[str, Any]) -> None:
        self._checkpoint = dict(_check_checkpoint(cp))

    def get_checkpoint(self) -> dict[str, Any] | None:
        return None if self._checkpoint is None else dict(self._checkpoint)


class SQLiteStore(ContentStore):
    """A store in one SQLite file (WAL), surviving close and reopen.

    The hash algorithm is recorded in the file; reopening with another one is
    :class:`InvalidArgument`, since refs of one hash cannot be found by another.
    Writes are committed by :meth:`flush`, :meth:`put_checkpoint` and
    :meth:`close`.
    """

    def __init__(self, path: str | Path, hash_name: str = "sha1") -> None:
        super().__init__(hash_name)
        self.path = Path(path)
        self._db: sqlite3.Connection | None = sqlite3.connect(str(self.path))
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS objects (ref TEXT PRIMARY KEY, data BLOB NOT NULL)"
            " WITHOUT ROWID"
        )
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE name = 'hash'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta VALUES ('hash', ?)", (hash_name,))
            db.commit()
        elif row[0] != hash_name:
            db.close()
            self._db = None
            raise InvalidArgument(f"{self.path} holds {row[0]} blobs, not {hash_name}")
        self._count: int = db.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
        self.stats.objects = self._count

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise InvalidArgument(f"content store {self.path} is closed")
        return self._db

    def _get(self, ref: str) -> bytes | None:
        row = self._conn.execute("SELECT data FROM objects WHERE ref = ?", (ref,)).fetchone()
        return None if row is None else bytes(row[0])

    def _put(self, ref: str, data: bytes | LazyBlob) -> bool:
        cur = self._conn.execute("INSERT OR IGNORE INTO objects VALUES (?, ?)", (ref, data))
        if cur.rowcount > 0:
            self._count += 1
            return True
        return False

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        query = "SELECT 1 FROM objects WHERE ref = ?"
        return self._conn.execute(query, (ref,)).fetchone() is not None

    def __len__(self) -> int:
        return self._count

    def put_checkpoint(self, cp: dict[str, Any]) -> None:
        text = json.dumps(_check_checkpoint(cp), sort_keys=True)
        db = self._conn
        db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (text,))
        db.commit()

    def get_checkpoint(self) -> dict[str, Any] | None:
        query = "SELECT value FROM meta WHERE name = 'checkpoint'"
        row = self._conn.execute(query).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def flush(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None

    def __repr__(self) -> str:
        state = "closed" if self._db is None else f"objects={self._count}"
        return f"<SQLiteStore {self.path} {self.hash_name} {state}>"
