"""The pure KVS core: keys, tree objects, content stores, commits and lookups.

Nothing in this package does I/O (except :class:`SQLiteStore`), reads a clock,
draws random numbers or touches the network; ranks and engines build on it.

Map of the modules:

* :mod:`~kvs_sim.core.errors`: errno-carrying exceptions and lookup stalls;
* :mod:`~kvs_sim.core.flags`: Flux commit and lookup flag bits;
* :mod:`~kvs_sim.core.keys`: key normalisation;
* :mod:`~kvs_sim.core.content`: blobrefs and content stores (RFC 10);
* :mod:`~kvs_sim.core.treeobj`: RFC 11 tree objects;
* :mod:`~kvs_sim.core.txn`: transactions (client side);
* :mod:`~kvs_sim.core.apply`: applying transactions to a tree (leader side);
* :mod:`~kvs_sim.core.lookup`: resolving keys, with stalls for missing objects;
* :mod:`~kvs_sim.core.namespace`: namespaces and access checks.
"""

from . import flags, treeobj
from .apply import INLINE_MAX, ApplyResult, apply_transactions, empty_root
from .content import (
    HASHES,
    ContentStore,
    MemoryStore,
    SQLiteStore,
    StoreStats,
    blobref,
    is_blobref,
)
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
from .keys import (
    ROOT,
    SYMLINK_MAX_DEPTH,
    join_key,
    key_components,
    normalize_key,
    parent_and_name,
)
from .lookup import lookup, lookup_kind
from .namespace import PRIMARY, Namespace, NamespaceRegistry
from .treeobj import DecodeCache
from .txn import Txn, compact_ops, validate_ops

__all__ = [
    "HASHES",
    "INLINE_MAX",
    "PRIMARY",
    "ROOT",
    "SYMLINK_MAX_DEPTH",
    "AlreadyExists",
    "ApplyResult",
    "ContentStore",
    "DecodeCache",
    "InvalidArgument",
    "IsDirectory",
    "KVSError",
    "MemoryStore",
    "MissingObject",
    "MissingRoot",
    "Namespace",
    "NamespaceRegistry",
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
    "Txn",
    "apply_transactions",
    "blobref",
    "compact_ops",
    "empty_root",
    "error_for",
    "flags",
    "is_blobref",
    "join_key",
    "key_components",
    "lookup",
    "lookup_kind",
    "normalize_key",
    "parent_and_name",
    "treeobj",
    "validate_ops",
]
