"""The leader (rank 0): owns every namespace's root and the content store.

Theory of operation
-------------------
Commits arrive from local clients (:class:`CommitReq`) or relayed by followers
(:class:`RelayCommit`).  Each is checked (namespace exists, caller may use it)
and appended to its namespace's ready queue; the first one schedules an *apply*
timer with no delay.  The timer is queued behind whatever already waits for the
leader, so commits that arrive while the leader is busy pile up and are applied
together as **one merged batch**, one new root, one version: the merging Flux
does when it is idle.

A batch takes the longest run of queued transactions with equal flags;
``NO_MERGE`` transactions are applied alone.  If a merged batch fails, each of
its transactions is applied again on its own so only the culprit gets the
error.  A successful batch increments the namespace sequence, publishes a
:class:`SetRoot` naming the batch's transactions and changed keys, answers local
committers and sends :class:`RelayCommitResp` to the followers that relayed.

Content lives in :class:`~kvs_sim.rank.durable.LeaderContent`: new objects are
*dirty* in the leader's cache until flushed to the backing
:class:`~kvs_sim.core.content.ContentStore` (after every batch).  Checkpoints of
the primary root (after ``SYNC`` commits, every ``checkpoint_period``, at
:meth:`Leader.shutdown`) are :class:`~kvs_sim.rank.durable.Checkpoints`'; a
restarted leader resumes from the last one in a new epoch, and what it lost is
what :meth:`Checkpoints.at_risk` listed at the crash.  ``dropcache`` drops clean
cache entries; later reads load them from the backing store.
"""

from __future__ import annotations

import errno
from typing import Any, NamedTuple

from kvs_sim.core.apply import apply_transactions, empty_root
from kvs_sim.core.content import ContentStore, LazyBlob, MemoryStore, as_bytes
from kvs_sim.core.errors import (
    InvalidArgument,
    KVSError,
    NoSuchKey,
    NotSupported,
    message_of,
)
from kvs_sim.core.flags import NO_MERGE, SYNC, TXN_COMPACT
from kvs_sim.core.namespace import PRIMARY, NamespaceRegistry, authorize_commit
from kvs_sim.rank import admin
from kvs_sim.rank.base import NO_HOOKS, NsRoot, RankBase, RankHooks, Retry
from kvs_sim.rank.config import RankConfig
from kvs_sim.rank.durable import Checkpoints, LeaderContent, is_checkpoint, resume_point
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
    NamespaceRemoveReq,
    RelayCommit,
    RelayCommitResp,
    RelayReq,
    RelayResp,
    Reply,
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


class Pending(NamedTuple):
    """A queued transaction: who sent it and how to answer."""

    name: str
    ops: tuple[dict[str, Any], ...]
    flags: int
    origin: int  # 0 for a local client, else the relaying follower
    client: int  # local client id (origin 0), -1 otherwise


class Leader(RankBase):
    """Rank 0."""

    __slots__ = (
        "_queues",
        "_relay_origin",
        "_removing",
        "_txn_counter",
        "checkpoints",
        "content",
        "registry",
    )

    def __init__(
        self,
        port: Port,
        config: RankConfig,
        *,
        store: ContentStore | None = None,
        hooks: RankHooks = NO_HOOKS,
        epoch: int | None = None,
    ) -> None:
        """``epoch``: the epoch to run in, given by a supervisor that restarts the
        leader (default: the store's checkpoint epoch + 1, or 0 on a fresh store)."""
        super().__init__(0, -1, port, config, hooks)
        backing = store if store is not None else MemoryStore(config.hash_name)
        self.content = LeaderContent(backing)
        self._queues: dict[str, list[Pending]] = {}
        self._relay_origin = -1
        self._removing: set[str] = set()
        self._txn_counter = 0
        resumed = resume_point(backing, epoch)
        if resumed is not None:
            # A restart: resume from the checkpoint in a new epoch, so followers
            # that saw later (lost) versions take this root all the same.
            seq, rootref, self.epoch = resumed
        else:
            seq, rootref = 0, empty_root(self.content)
            self.epoch = epoch or 0
            self.content.flush()
        self.checkpoints = Checkpoints(backing, config.checkpoint_period, seq)
        self.registry = NamespaceRegistry(config.instance_owner)
        """The authority on which namespaces exist and who owns them."""
        self.registry.create(PRIMARY, config.instance_owner, rootref, seq)
        self.roots[PRIMARY] = NsRoot(seq, rootref, config.instance_owner, self.epoch)

    def start(self) -> None:
        """After a restart, tell every rank where the primary namespace resumes.
        With a checkpoint period, record the initial root and the epoch now (a
        start mark, not a checkpoint: lookups still answer ENOENT, as Flux has
        written none; a restart resumes from it in a new epoch); the periodic timer is armed
        whenever versions wait for a checkpoint (:class:`Checkpoints`), never
        while nothing does, so an idle simulation stays idle."""
        if self.epoch > 0:
            st = self.roots[PRIMARY]
            self.port.publish(
                SetRoot(
                    ns=PRIMARY, seq=st.seq, rootref=st.rootref, owner=st.owner, epoch=self.epoch
                )
            )
        if self.config.checkpoint_period is not None:
            self.checkpoint(start=True)

    def checkpoint(self, *, start: bool = False) -> bool:
        """Write the primary root as the checkpoint unless it is already the last
        one written (SYNC commits, the periodic timer, a clean shutdown; ``start``:
        only the start mark, see :data:`~kvs_sim.rank.durable.START_MARK`).  True
        if a record was written."""
        st = self.roots[PRIMARY]
        last = self.content.backing.get_checkpoint()
        if (
            last is not None
            and (last.get("sequence"), last.get("epoch", 0)) == (st.seq, self.epoch)
            and (start or is_checkpoint(last))
        ):
            return False
        self.content.flush()
        self.checkpoints.write(
            seq=st.seq, rootref=st.rootref, epoch=self.epoch, now=self.port.now(), start=start
        )
        if not start:
            self.count("checkpoints")
        return True

    # -- content -------------------------------------------------------------

    def load_object(self, ref: str) -> bytes | LazyBlob | None:
        """From the leader's cache, else its backing store (a cost, counted)."""
        content = self.content
        data = content.cache.get(ref)
        if data is None:
            data = content.get(ref)
            if data is not None:
                self.count("backing_loads")
                self.port.work(self.config.service.load)
        return data

    def want_object(self, ref: str, retry: Retry) -> None:
        retry(NoSuchKey(errno.ENOENT, f"blobref {ref} is not in the content store"))

    def want_root(self, name: str, retry: Retry) -> None:
        retry(NotSupported(errno.EOPNOTSUPP, f"namespace {name!r} does not exist"))

    def ns_or_error(self, name: str, userid: int) -> NsRoot:
        if name in self._removing:
            raise NotSupported(errno.EOPNOTSUPP, f"namespace {name!r} does not exist")
        self.registry.check_access(self.registry.get(name), userid)
        return self.roots[name]

    # -- replies (relayed requests go back to the follower) ------------------

    def deliver(self, reply: Reply) -> None:
        if self._relay_origin > 0:
            self.port.send(self._relay_origin, RelayResp(reply=reply))
        else:
            self.port.respond(reply)

    def on_relay(self, msg: RelayReq) -> None:
        self._relay_origin = msg.origin
        try:
            self.handle(msg.req)
        finally:
            self._relay_origin = -1

    # -- commits -----------------------------------------------------------------

    def on_commit(self, req: CommitReq) -> None:
        self._txn_counter += 1
        name = f"0.{self._txn_counter}"
        self.enqueue(req.ns, req.userid, Pending(name, req.ops, req.flags, 0, req.client))

    def on_relay_commit(self, msg: RelayCommit) -> None:
        txn = Pending(msg.name, msg.ops, msg.flags, msg.origin, -1)
        if msg.epoch < self.epoch:
            # Relayed to the previous incarnation (e.g. queued while it was down):
            # its follower has already reported its fate as unknown; never apply it
            # behind the client's back.
            self.count("stale_commits")
            self.answer(msg.ns, txn, err=_restarted())
            return
        self.enqueue(msg.ns, msg.userid, txn)

    def enqueue(self, ns: str, userid: int, txn: Pending) -> None:
        self.port.work(self.config.service.message)
        try:
            self.ns_or_error(ns, userid)
            authorize_commit(txn.ops, userid, self.config.instance_owner)
            if txn.flags & SYNC and ns != PRIMARY:
                raise InvalidArgument(
                    errno.EINVAL, "FLUX_KVS_SYNC works only on the primary namespace"
                )
        except KVSError as err:
            self.answer(ns, txn, err=err)
            return
        queue = self._queues.get(ns)
        if queue is None:
            self._queues[ns] = [txn]
            self.port.timer(0.0, Timer(kind="apply", data=ns))
        else:
            queue.append(txn)

    def on_timer(self, msg: Timer) -> None:
        if msg.kind == "apply":
            self.apply_ready(msg.data)
        elif msg.kind == "ns-removed":
            self._removing.discard(msg.data)
        elif msg.kind == "checkpoint":
            self.checkpoints.timer_set = False
            if self.checkpoints.at_risk():
                self.checkpoint()

    def shutdown(self) -> None:
        """A clean stop: checkpoint what is not checkpointed yet (Flux does at unload)."""
        self.checkpoint()

    def apply_ready(self, ns: str) -> None:
        queue = self._queues.pop(ns, None)
        if not queue:
            return
        first = queue[0]
        n = 1
        if not first.flags & NO_MERGE:
            while n < len(queue) and queue[n].flags == first.flags:
                n += 1
        if n < len(queue):
            self._queues[ns] = queue[n:]
            self.port.timer(0.0, Timer(kind="apply", data=ns))
        self.apply_batch(ns, queue[:n])

    def apply_batch(self, ns: str, batch: list[Pending]) -> None:
        st = self.roots.get(ns)
        if st is None:
            err = NotSupported(errno.EOPNOTSUPP, f"namespace {ns!r} does not exist")
            for txn in batch:
                self.answer(ns, txn, err=err)
            return
        flags = batch[0].flags
        svc = self.config.service
        kwargs: dict[str, Any] = {"compact": bool(flags & TXN_COMPACT)}
        if self.config.inline_max is not None:
            kwargs["inline_max"] = self.config.inline_max
        try:
            result = apply_transactions(
                self.content, st.rootref, [txn.ops for txn in batch], **kwargs
            )
        except KVSError as err:
            self.port.work(svc.commit_base)
            if len(batch) > 1:
                self.count("unmerged_batches")
                for txn in batch:
                    self.apply_batch(ns, [txn])
            else:
                self.count("failed_commits")
                self.answer(ns, batch[0], err=err)
            return
        self.port.work(
            svc.commit_base
            + svc.commit_per_txn * len(batch)
            + svc.commit_per_entry * result.dirents_rewritten
        )
        self.count("transactions", len(batch))
        self.count("versions")
        if len(batch) > 1:
            self.count("merged_transactions", len(batch))
        self.content.flush()
        seq = st.seq + 1
        self.registry.update(ns, result.rootref, seq)
        names = tuple(txn.name for txn in batch)
        sync = bool(flags & SYNC) and ns == PRIMARY
        if ns == PRIMARY:
            self.checkpoints.created(seq, names)
            if not sync and self.checkpoints.wants_timer():
                self.port.timer(self.checkpoints.period, Timer(kind="checkpoint"))  # type: ignore[arg-type]
        event = SetRoot(
            ns=ns,
            seq=seq,
            rootref=result.rootref,
            names=names,
            keys=result.keys,
            owner=st.owner,
            epoch=self.epoch,
        )
        self.advance_root(ns, st, seq, result.rootref, result.keys)
        if sync:
            self.checkpoint()  # durable before any committer is answered
        for txn in batch:
            self.answer(ns, txn, seq=seq, rootref=result.rootref)
        self.port.work(svc.publish)  # the event leaves once the leader has published it
        self.port.publish(event)

    def answer(
        self,
        ns: str,
        txn: Pending,
        *,
        seq: int = -1,
        rootref: str = "",
        err: KVSError | None = None,
    ) -> None:
        if txn.origin > 0:
            if err is None:
                resp = RelayCommitResp(
                    name=txn.name, ns=ns, seq=seq, rootref=rootref, epoch=self.epoch
                )
            else:
                resp = RelayCommitResp(
                    name=txn.name, ns=ns, errnum=err.errno or errno.EIO, errmsg=message_of(err)
                )
            self.port.send(txn.origin, resp)
        elif err is not None:
            self.reply_error(txn.client, err)
        else:
            self.reply(txn.client, {"rootref": rootref, "seq": seq}, seq=seq)

    # -- followers' requests -----------------------------------------------------

    def on_root_req(self, msg: RootReq) -> None:
        self.port.work(self.config.service.message)
        try:
            st = self.ns_or_error(msg.ns, msg.userid)
        except KVSError as err:
            resp = RootResp(ns=msg.ns, errnum=err.errno or errno.EIO, errmsg=message_of(err))
        else:
            resp = RootResp(
                ns=msg.ns, seq=st.seq, rootref=st.rootref, owner=st.owner, epoch=self.epoch
            )
        self.port.send(msg.origin, resp)

    def on_load(self, msg: LoadReq) -> None:
        self.port.work(self.config.service.load)
        data = self.load_object(msg.ref)
        self.count("loads_served")
        if data is None:
            self.port.send(msg.origin, LoadResp(ref=msg.ref, errnum=errno.ENOENT))
        else:
            self.port.send(msg.origin, LoadResp(ref=msg.ref, data=as_bytes(data)))

    # -- other client requests ---------------------------------------------------

    def on_dropcache(self, req: DropCacheReq) -> None:
        self.port.work(self.config.service.message)
        self.count("dropped_objects", self.content.drop())
        self.reply(req.client, None)

    def on_stats(self, req: StatsReq) -> None:
        self.port.work(self.config.service.message)
        self.reply(req.client, self.stats())

    def stats(self) -> dict[str, Any]:
        stats = self.cache_stats()
        cache = self.content.cache
        stats["cache"] = {
            "objects": len(cache),
            "bytes": sum(len(v) for v in cache.values()),
            "dirty": len(self.content.dirty),
        }
        stats["store"] = admin.vars_of(self.content.backing.stats)
        return stats

    HANDLERS = {
        LookupReq: RankBase.on_lookup,
        GetRootReq: RankBase.on_getroot,
        WaitVersionReq: RankBase.on_wait_version,
        WatchReq: RankBase.on_watch,
        WatchCancelReq: RankBase.on_watch_cancel,
        CommitReq: on_commit,
        RelayCommit: on_relay_commit,
        RelayReq: on_relay,
        Timer: on_timer,
        NamespaceCreateReq: admin.on_ns_create,
        NamespaceRemoveReq: admin.on_ns_remove,
        NamespaceListReq: admin.on_ns_list,
        RootReq: on_root_req,
        LoadReq: on_load,
        DropCacheReq: on_dropcache,
        StatsReq: on_stats,
        CheckpointLookupReq: admin.on_checkpoint,
    }


def _restarted() -> KVSError:
    return KVSError(errno.ECONNRESET, "the leader restarted: this commit may or may not be applied")
