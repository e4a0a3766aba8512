"""A follower rank: serves reads from a cache of the leader's hash tree.

Theory of operation
-------------------
**Roots.**  A follower knows a namespace once it has asked the leader for its
root (:class:`RootReq`, lazily, on first use; ``primary`` may be given at
construction).  From then on each :class:`SetRoot` event with a newer sequence
moves the root forward (older or repeated ones are ignored: monotonic reads), and
wakes version waiters and watches.  Events of namespaces it does not know are
ignored.

**Cache.**  Tree objects are cached by blobref with the time they were last
used.  A lookup that needs an object the cache lacks *faults* it in from the
TBON parent (:class:`LoadReq`), which serves it from its own cache or faults it
from its parent in turn, up to the leader.  Concurrent misses for one blobref
share one load.  An entry unused for ``cache_expiry`` seconds is expired: it
counts as absent the moment it is looked at, and a sweep reclaims such entries
now and then.  ``dropcache`` empties the cache (no entry is in use between
messages, so all of them may go).

**Commits** are relayed to the leader and answered when the setroot naming
them has been applied here (read-your-writes; :mod:`kvs_sim.rank.commits`).

Namespace administration and checkpoint lookups are relayed to the leader
unchanged (:class:`RelayReq`), their answers passed back to the client.

**Faults** (:mod:`kvs_sim.rank.recovery`).  When a rank on the path to the leader
crashes, the engine says so (:class:`PeerLost`): every request in flight that way
(object loads from a lost parent, root fetches, relayed commits and requests)
fails at once with ``EHOSTUNREACH``, as Flux's overlay fails RPCs to a lost peer,
and new ones fail the same way until :class:`PeerBack`.  A restarted follower is
a new, cold one (``rejoin=True``): it takes its parent's current root.  A root
from a newer leader epoch replaces the one held, whatever its sequence; commits
answered across epochs compare ``(epoch, seq)``, never the sequence alone.
"""

from __future__ import annotations

from typing import Any

from kvs_sim.core.errors import KVSError, error_for
from kvs_sim.core.namespace import PRIMARY
from kvs_sim.rank import commits, recovery, traffic
from kvs_sim.rank.base import NO_HOOKS, NsRoot, RankBase, RankHooks, Retry
from kvs_sim.rank.config import RankConfig
from kvs_sim.rank.messages import (
    CheckpointLookupReq,
    CommitReq,
    DropCacheReq,
    GetRootReq,
    LoadReq,
    LoadResp,
    LookupReq,
    NamespaceCreateReq,
    NamespaceListReq,
    NamespaceRemoved,
    NamespaceRemoveReq,
    PeerBack,
    PeerLost,
    RelayCommitResp,
    RelayReq,
    RelayResp,
    RootReq,
    RootResp,
    SetRoot,
    StatsReq,
    Timer,
    WaitVersionReq,
    WatchCancelReq,
    WatchReq,
)
from kvs_sim.rank.port import Port


class Follower(RankBase):
    """Any rank but 0."""

    __slots__ = (
        "_commits",
        "_last_sweep",
        "_lost",
        "_relays",
        "_txn_counter",
        "_txn_prefix",
        "cache",
        "loss_seen",
        "rejoin",
    )

    def __init__(
        self,
        rank: int,
        parent: int,
        port: Port,
        config: RankConfig,
        *,
        hooks: RankHooks = NO_HOOKS,
        primary: tuple[int, str, int, int] | None = None,
        rejoin: int = 0,
    ) -> None:
        """``rejoin``: how many times this rank restarted (0 for a first start); a
        restarted rank takes its parent's root and names its transactions apart."""
        super().__init__(rank, parent, port, config, hooks)
        self.cache: dict[str, list[Any]] = {}  # ref -> [bytes, last used]
        self._commits: dict[str, commits.PendingCommit] | None = None
        self._txn_counter = 0
        self._txn_prefix = f"{rank}." if not rejoin else f"{rank}~{rejoin}."
        self._last_sweep = 0.0
        self._lost: set[int] | None = None  # crashed ranks on the path to the leader
        self._relays: set[int] | None = None  # clients of relayed requests in flight
        self.loss_seen = False
        """A crash notice came since the last epoch change (pending commits were
        failed then; those relayed since went to a restarted leader)."""
        self.rejoin = rejoin
        if primary is not None:
            self.roots[PRIMARY] = NsRoot(*primary)
            self.epoch = primary[3]

    def start(self) -> None:
        if PRIMARY in self.roots:
            return
        if self.rejoin:
            recovery.rejoin(self)
        else:
            self.want_root(PRIMARY, _ignore)

    # -- the cache -------------------------------------------------------------

    def load_object(self, ref: str) -> bytes | None:
        entry = self.cache.get(ref)
        if entry is None:
            return None
        now = self.port.now()
        if now - entry[1] > self.config.cache_expiry:
            del self.cache[ref]
            self.count("expired")
            return None
        entry[1] = now
        self.count("hits")
        return entry[0]

    def want_object(self, ref: str, retry: Retry) -> None:
        if self._lost and self.parent in self._lost:
            retry(recovery.unreachable(self.parent))
            return
        if self.park_object(ref, retry):
            self.count("faults")
            self.port.send(self.parent, LoadReq(origin=self.rank, ref=ref))
            if self.config.request_retry is not None:
                self.port.timer(self.config.request_retry, Timer(kind="load", data=ref))

    def sweep(self, now: float) -> None:
        expiry = self.config.cache_expiry
        stale = [ref for ref, entry in self.cache.items() if now - entry[1] > expiry]
        for ref in stale:
            del self.cache[ref]
        if stale:
            self.count("expired", len(stale))
        self._last_sweep = now

    # -- roots -------------------------------------------------------------------

    def want_root(self, name: str, retry: Retry) -> None:
        if self._lost:
            retry(recovery.unreachable(min(self._lost)))
            return
        if self.park_root(name, retry):
            self.send_root_req(name)
            if self.config.request_retry is not None:
                self.port.timer(self.config.request_retry, Timer(kind="root", data=name))

    def send_root_req(self, name: str) -> None:
        self.port.send(0, RootReq(origin=self.rank, ns=name, userid=self.config.instance_owner))

    def on_root_resp(self, msg: RootResp) -> None:
        self.port.work(self.config.service.message)
        if msg.errnum:
            self.resume_root(msg.ns, error_for(msg.errnum, msg.errmsg))
            return
        st = self.roots.get(msg.ns)
        if st is None:
            self.roots[msg.ns] = NsRoot(msg.seq, msg.rootref, msg.owner, msg.epoch)
            if msg.ns == PRIMARY:
                self.epoch = msg.epoch
            hook = self.hooks.root_applied
            if hook is not None:
                hook(self.rank, msg.ns, msg.seq, msg.rootref, self.port.now())
        elif msg.epoch > st.epoch or (msg.epoch == st.epoch and msg.seq > st.seq):
            if msg.epoch > st.epoch:
                self.new_epoch(msg.ns, st, msg.epoch, ())
            self.advance_root(msg.ns, st, msg.seq, msg.rootref, None)
            if self._commits:
                self.complete_late(msg.ns, st.epoch, msg.seq, msg.rootref)
        self.resume_root(msg.ns, None)

    def on_root_req(self, msg: RootReq) -> None:
        """A restarted child rejoins from this rank's current root."""
        self.port.work(self.config.service.message)
        recovery.answer_root_req(self, msg)

    def handle(self, msg: Any) -> None:
        # Most deliveries in a large cluster are the next setroot event at a rank
        # where nobody waits: apply those without the dispatch table.
        if type(msg) is SetRoot:
            st = self.roots.get(msg.ns)
            if (
                st is not None
                and msg.seq > st.seq
                and msg.epoch == st.epoch
                and not self._commits
                and not st.waiters
                and not st.watches
                and self.hooks.root_applied is None
            ):
                self.port.work(self.config.service.setroot)
                st.seq = msg.seq
                st.rootref = msg.rootref
                return
            self.on_setroot(msg)
            return
        RankBase.handle(self, msg)

    # Idle ranks (the simulator's lazy delivery): see kvs_sim.rank.traffic.
    quiet = traffic.quiet
    absorb = traffic.absorb
    digest = staticmethod(traffic.digest)

    def on_setroot(self, msg: SetRoot) -> None:
        self.port.work(self.config.service.setroot)
        st = self.roots.get(msg.ns)
        if st is None or msg.epoch < st.epoch:
            return
        if msg.epoch > st.epoch or msg.seq > st.seq:
            self.apply_setroot(msg, st)

    def apply_setroot(self, msg: SetRoot, st: NsRoot) -> None:
        before = (st.seq, st.rootref)
        if msg.epoch > st.epoch:
            self.new_epoch(msg.ns, st, msg.epoch, msg.names)
            self.advance_root(msg.ns, st, msg.seq, msg.rootref, None)
        else:
            self.advance_root(msg.ns, st, msg.seq, msg.rootref, msg.keys)
        if self._commits:
            self.complete_commits(msg, before)

    def new_epoch(self, name: str, st: NsRoot, epoch: int, named: tuple[str, ...]) -> None:
        """The leader restarted: its root (from its last checkpoint) replaces ours
        even if older (see :func:`kvs_sim.rank.recovery.adopt_epoch`)."""
        recovery.adopt_epoch(self, name, st, epoch, named)

    def on_ns_removed(self, msg: NamespaceRemoved) -> None:
        self.port.work(self.config.service.message)
        self.drop_namespace(msg.ns)

    # -- commits (kvs_sim.rank.commits) ------------------------------------------

    complete_commits = commits.complete_commits
    complete_late = commits.complete_late

    # -- relayed to the leader ------------------------------------------------------

    def on_relayed(self, req: Any) -> None:
        self.port.work(self.config.service.message)
        if self._lost:
            self.reply_error(req.client, recovery.unreachable(min(self._lost)))
            return
        if self._relays is None:
            self._relays = set()
        self._relays.add(req.client)
        self.port.send(0, RelayReq(origin=self.rank, req=req))

    def on_relay_resp(self, msg: RelayResp) -> None:
        self.port.work(self.config.service.message)
        if self._relays is not None:
            self._relays.discard(msg.reply.client)
        self.port.respond(msg.reply)

    def on_peer_lost(self, msg: PeerLost) -> None:
        recovery.peer_lost(self, msg.rank)

    def on_peer_back(self, msg: PeerBack) -> None:
        recovery.peer_back(self, msg.rank)

    def on_stats(self, req: StatsReq) -> None:
        self.port.work(self.config.service.message)
        self.reply(req.client, self.stats())

    def stats(self) -> dict[str, Any]:
        now = self.port.now()
        self.sweep(now)
        stats = self.cache_stats()
        stats["cache"] = {
            "objects": len(self.cache),
            "bytes": sum(len(entry[0]) for entry in self.cache.values()),
            "dirty": 0,
        }
        stats["pending_commits"] = len(self._commits or ())
        return stats

    HANDLERS = {
        LookupReq: RankBase.on_lookup,
        GetRootReq: RankBase.on_getroot,
        WaitVersionReq: RankBase.on_wait_version,
        WatchReq: RankBase.on_watch,
        WatchCancelReq: RankBase.on_watch_cancel,
        SetRoot: on_setroot,
        NamespaceRemoved: on_ns_removed,
        CommitReq: commits.on_commit,
        RelayCommitResp: commits.on_commit_resp,
        RootResp: on_root_resp,
        LoadReq: traffic.on_load,
        LoadResp: traffic.on_load_resp,
        DropCacheReq: traffic.on_dropcache,
        StatsReq: on_stats,
        NamespaceCreateReq: on_relayed,
        NamespaceRemoveReq: on_relayed,
        NamespaceListReq: on_relayed,
        CheckpointLookupReq: on_relayed,
        RelayResp: on_relay_resp,
        Timer: traffic.on_timer,
        RootReq: on_root_req,
        PeerLost: on_peer_lost,
        PeerBack: on_peer_back,
    }


def _ignore(err: KVSError | None) -> None:
    """Retry for a root fetched at start: nothing waits for it."""
