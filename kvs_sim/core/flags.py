"""Flux KVS flag bits, with the values flux-core uses.

Theory of operation
-------------------
Two independent flag words exist in Flux, and this module mirrors both so that
traces and messages carry the same integers a real instance would:

* **commit flags** (``enum kvs_commit_flags`` in flux-core ``kvs_commit.h``),
  passed with a whole transaction;
* **operation flags** (``enum kvs_op`` in ``kvs.h``), passed with a lookup or
  watch, and, for :data:`APPEND`, stored in a transaction op's ``flags``.

The same integer means different things in the two words (``SYNC`` and
``WATCH`` are both 4), so always say which word you are testing.  Values checked
against flux-core's public headers.
"""

from __future__ import annotations

__all__ = [
    "APPEND",
    "COMMIT_FLAGS",
    "LOOKUP_FLAGS",
    "NO_MERGE",
    "READDIR",
    "READLINK",
    "STREAM",
    "SYNC",
    "TREEOBJ",
    "TXN_COMPACT",
    "TXN_OP_FLAGS",
    "WAITCREATE",
    "WATCH",
    "WATCH_APPEND",
    "WATCH_FULL",
    "WATCH_UNIQ",
    "describe",
]

# Commit flags ---------------------------------------------------------------
NO_MERGE = 1  #: never merge this commit with others into one root update
TXN_COMPACT = 2  #: consolidate appends to one key within the transaction
SYNC = 4  #: flush content to the backing store and checkpoint (primary only)

COMMIT_FLAGS = NO_MERGE | TXN_COMPACT | SYNC

# Lookup / watch / op flags ----------------------------------------------------
READDIR = 1  #: the caller wants a directory
READLINK = 2  #: the caller wants a symlink's target, not what it points at
WATCH = 4  #: keep responding as the key changes
WAITCREATE = 8  #: with WATCH, wait for the key to exist instead of ENOENT
TREEOBJ = 16  #: the caller wants the raw RFC 11 tree object
APPEND = 32  #: txn op: append to the value; watch: report only appended data
WATCH_FULL = 64  #: also respond when a parent change alters the key
WATCH_UNIQ = 128  #: respond only when the value actually changed
WATCH_APPEND = 256  #: respond with appended data only
STREAM = 512  #: stream a large value in several responses

LOOKUP_FLAGS = (
    READDIR
    | READLINK
    | WATCH
    | WAITCREATE
    | TREEOBJ
    | APPEND
    | WATCH_FULL
    | WATCH_UNIQ
    | WATCH_APPEND
    | STREAM
)

#: The only flag a transaction op may carry.
TXN_OP_FLAGS = APPEND

_COMMIT_NAMES = {NO_MERGE: "NO_MERGE", TXN_COMPACT: "TXN_COMPACT", SYNC: "SYNC"}
_LOOKUP_NAMES = {
    READDIR: "READDIR",
    READLINK: "READLINK",
    WATCH: "WATCH",
    WAITCREATE: "WAITCREATE",
    TREEOBJ: "TREEOBJ",
    APPEND: "APPEND",
    WATCH_FULL: "WATCH_FULL",
    WATCH_UNIQ: "WATCH_UNIQ",
    WATCH_APPEND: "WATCH_APPEND",
    STREAM: "STREAM",
}


def describe(flags: int, *, commit: bool = False) -> str:
    """Render ``flags`` as ``"A|B"`` for logs (``"0"`` when empty).

    ``commit=True`` reads them as commit flags, else as lookup/op flags.  Unknown
    bits are shown in hex so nothing is silently dropped.
    """
    names = _COMMIT_NAMES if commit else _LOOKUP_NAMES
    parts = [name for bit, name in names.items() if flags & bit]
    rest = flags & ~sum(names)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) if parts else "0"
