"""Messages exchanged by ranks and clients.

Theory of operation
-------------------
Every interaction in kvs-sim is one of these small frozen records.  Rank logic
(``kvs_sim.rank``) consumes and produces them; the engines (virtual time in
``kvs_sim.sim``, MQTT in ``kvs_sim.live``) only move them.  A message is created
once and forwarded by reference (a setroot event reaches every rank as the same
object), so the hot path allocates nothing per delivery.

Four families:

* **client requests** (``*Req``), sent by a client to its local rank.  Each carries
  ``client``, an engine-assigned integer the rank hands back to
  :meth:`Port.respond`; the rank never interprets it.
* **rank-to-rank messages**, routed over the tree overlay (commit relay, object
  loads, root queries, relayed namespace operations and their responses).
* **events** (:class:`SetRoot`, :class:`NamespaceRemoved`), published by the leader
  and delivered to every rank;
* **overlay notices** (:class:`PeerLost`, :class:`PeerBack`), from the engine: an
  upstream rank crashed or came back (Flux's overlay sees a peer disconnect).

All fields are JSON-compatible except ``bytes`` values; the live transport's codec
(``kvs_sim.live.codec``) maps them to and from bytes using :data:`MESSAGE_TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------
# Replies to clients


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A response to a client request.

    ``errnum`` is 0 on success, else a Flux errno (``errno.ENOENT``...), with
    ``errmsg`` naming what failed.  ``seq`` is the root version the answer was
    served from (lookups) or produced (commits), -1 where none applies; ``epoch``
    the leader epoch of that root (versions restart after a leader crash).  Watch
    streams send several replies with ``final=False``; the last has ``final=True``.
    """

    client: int
    value: Any = None
    errnum: int = 0
    errmsg: str = ""
    seq: int = -1
    final: bool = True
    epoch: int = 0


# ---------------------------------------------------------------------------
# Client requests (client -> its local rank)


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupReq:
    """Look up ``key`` in namespace ``ns``.

    ``want`` is one of ``"value"`` (bytes of a value; a directory answers EISDIR),
    ``"dir"`` (a listing ``{name: kind}``; a value answers ENOTDIR), ``"any"``
    (either, as ``("val", bytes)`` or ``("dir", listing)``), ``"readlink"`` (the
    symlink's ``(namespace, target)``) or ``"treeobj"`` (the raw RFC 11 object).
    ``rootref`` pins the lookup to a given root instead of the rank's current one.
    """

    client: int
    ns: str
    key: str
    want: str = "value"
    rootref: str | None = None
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitReq:
    """Commit a transaction: ``ops`` are RFC 11 txn ops ``{key, flags, dirent}``."""

    client: int
    ns: str
    ops: tuple[dict[str, Any], ...]
    flags: int = 0
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRootReq:
    client: int
    ns: str
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitVersionReq:
    """Answer once the rank's root of ``ns`` reaches ``version``."""

    client: int
    ns: str
    version: int
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchReq:
    """Stream the value of ``key``; ``flags`` are the FLUX_KVS_WATCH* bits."""

    client: int
    ns: str
    key: str
    flags: int = 0
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchCancelReq:
    """Cancel the watch whose request had client id ``watch``; it ends with ENODATA."""

    client: int
    watch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DropCacheReq:
    client: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsReq:
    client: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceCreateReq:
    client: int
    ns: str
    owner: int
    flags: int = 0
    userid: int = 0
    rootref: str = ""  # start from this root (flux kvs namespace create --rootref)


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceRemoveReq:
    client: int
    ns: str
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceListReq:
    client: int
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointLookupReq:
    client: int


# ---------------------------------------------------------------------------
# Rank-to-rank messages (routed over the overlay)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayCommit:
    """A follower's commit on its way to the leader; ``name`` is unique cluster-wide.
    ``epoch`` is the leader epoch the follower knew: a restarted leader refuses
    commits relayed to its previous incarnation (their fate was already reported
    as unknown)."""

    origin: int
    name: str
    ns: str
    ops: tuple[dict[str, Any], ...]
    flags: int = 0
    userid: int = 0
    epoch: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayCommitResp:
    """The leader's answer to a :class:`RelayCommit`; ``seq``/``rootref`` it produced,
    in leader ``epoch``."""

    name: str
    ns: str
    seq: int = -1
    rootref: str = ""
    errnum: int = 0
    errmsg: str = ""
    epoch: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayReq:
    """Any other client request a follower cannot answer itself, sent to the leader."""

    origin: int
    req: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayResp:
    """The leader's :class:`Reply` to a :class:`RelayReq`, for the origin's client."""

    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReq:
    """Fault a content object in from the parent."""

    origin: int
    ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResp:
    ref: str
    data: bytes | None = None
    errnum: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RootReq:
    """A follower learning a namespace's current root from the leader."""

    origin: int
    ns: str
    userid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RootResp:
    ns: str
    seq: int = -1
    rootref: str = ""
    owner: int = 0
    errnum: int = 0
    errmsg: str = ""
    epoch: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    """A message a rank sends itself after a delay (``Port.timer``)."""

    kind: str
    data: Any = None


# ---------------------------------------------------------------------------
# Events (leader -> every rank)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetRoot:
    """A namespace has a new root.  ``names`` are the transactions it applied,
    ``keys`` the keys they changed (normalised).  ``epoch`` counts leader
    restarts: a root from a newer epoch replaces any older one, whatever its
    sequence (a restarted leader resumes from its last checkpoint)."""

    ns: str
    seq: int
    rootref: str
    names: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    owner: int = 0
    epoch: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceRemoved:
    ns: str


# ---------------------------------------------------------------------------
# Overlay notices (engine -> the ranks below a crashed rank)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerLost:
    """Rank ``rank``, on this rank's path to the leader, crashed: requests in flight
    through it will get no answer (Flux's overlay fails them with EHOSTUNREACH)."""

    rank: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerBack:
    """Rank ``rank`` restarted: the path through it carries requests again."""

    rank: int


MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Reply,
        LookupReq,
        CommitReq,
        GetRootReq,
        WaitVersionReq,
        WatchReq,
        WatchCancelReq,
        DropCacheReq,
        StatsReq,
        NamespaceCreateReq,
        NamespaceRemoveReq,
        NamespaceListReq,
        CheckpointLookupReq,
        RelayCommit,
        RelayCommitResp,
        RelayReq,
        RelayResp,
        LoadReq,
        LoadResp,
        RootReq,
        RootResp,
        Timer,
        SetRoot,
        NamespaceRemoved,
        PeerLost,
        PeerBack,
    )
}
"""Every message class by name: the codec's registry."""

EVENT_TYPES = (SetRoot, NamespaceRemoved)
