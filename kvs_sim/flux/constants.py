"""``flux.constants`` for the KVS: the flag values a Flux script passes.

Theory of operation
-------------------
Scripts written for Flux spell flags as ``flux.constants.FLUX_KVS_*``.  The
values are flux-core's, and they already live in :mod:`kvs_sim.core.flags`
(which says where each comes from); this module only gives them Flux's names, so
there is one source of truth for every integer.

Remember that there are two flag words: the *commit* flags (``NO_MERGE``,
``TXN_COMPACT``, ``SYNC``) and the *lookup/watch* flags.  ``FLUX_KVS_SYNC`` and
``FLUX_KVS_WATCH`` are both 4.
"""

from __future__ import annotations

from kvs_sim.core import flags as _flags

__all__ = [
    "FLUX_KVS_APPEND",
    "FLUX_KVS_NO_MERGE",
    "FLUX_KVS_READDIR",
    "FLUX_KVS_READLINK",
    "FLUX_KVS_STREAM",
    "FLUX_KVS_SYNC",
    "FLUX_KVS_TREEOBJ",
    "FLUX_KVS_TXN_COMPACT",
    "FLUX_KVS_WAITCREATE",
    "FLUX_KVS_WATCH",
    "FLUX_KVS_WATCH_APPEND",
    "FLUX_KVS_WATCH_FULL",
    "FLUX_KVS_WATCH_UNIQ",
]

# Commit flags (flux_kvs_commit, flux.kvs.commit).
FLUX_KVS_NO_MERGE: int = _flags.NO_MERGE
FLUX_KVS_TXN_COMPACT: int = _flags.TXN_COMPACT
FLUX_KVS_SYNC: int = _flags.SYNC

# Lookup, watch and transaction-op flags (flux_kvs_lookup, kvs_watch_async).
FLUX_KVS_READDIR: int = _flags.READDIR
FLUX_KVS_READLINK: int = _flags.READLINK
FLUX_KVS_WATCH: int = _flags.WATCH
FLUX_KVS_WAITCREATE: int = _flags.WAITCREATE
FLUX_KVS_TREEOBJ: int = _flags.TREEOBJ
FLUX_KVS_APPEND: int = _flags.APPEND
FLUX_KVS_WATCH_FULL: int = _flags.WATCH_FULL
FLUX_KVS_WATCH_UNIQ: int = _flags.WATCH_UNIQ
FLUX_KVS_WATCH_APPEND: int = _flags.WATCH_APPEND
FLUX_KVS_STREAM: int = _flags.STREAM
