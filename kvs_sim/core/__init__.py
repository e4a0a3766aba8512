"""The pure KVS core: keys, tree objects, content stores, commits and lookups.

Nothing in this package does I/O (except :class:`SQLiteStore`), reads a clock,
draws random numbers or touches the network; ranks and engines build on it.
"""

from .content import HASHES, ContentStore, MemoryStore, SQLiteStore, StoreStats, blobref, is_blobref
from .errors import (
    AlreadyExists,
    InvalidArgument,
    IsDirectory,
    KVSError,
    MissingObject,
    MissingRoot,
    NoData,
    NoSuchKey,
    NotDirectory,
    NotSupported,
    PermissionDenied,
    ProtocolError,
    Stall,
    SymlinkLoop,
    TimedOut,
    error_for,
)
from .keys import ROOT, join_key, key_components, normalize_key, parent_and_name

__all__ = [
    "HASHES",
    "ROOT",
    "AlreadyExists",
    "ContentStore",
    "InvalidArgument",
    "IsDirectory",
    "KVSError",
    "MemoryStore",
    "MissingObject",
    "MissingRoot",
    "NoData",
    "NoSuchKey",
    "NotDirectory",
    "NotSupported",
    "PermissionDenied",
    "ProtocolError",
    "SQLiteStore",
    "Stall",
    "StoreStats",
    "SymlinkLoop",
    "TimedOut",
    "blobref",
    "error_for",
    "is_blobref",
    "join_key",
    "key_components",
    "normalize_key",
    "parent_and_name",
]
