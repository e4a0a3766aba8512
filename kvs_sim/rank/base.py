"""Behaviour every rank shares: dispatch, lookups that stall, version waiters.

Theory of operation
-------------------
A rank is a state machine driven by :meth:`RankBase.handle`, one message at a
time.  It holds, per namespace it knows, an :class:`NsRoot`: the root blobref and
sequence it serves reads from, the clients waiting for a version, the watches.

Lookups walk the hash tree through ``self._load`` (the leader's content store, a
follower's cache).  When an object is not there the core raises a
:class:`~kvs_sim.core.lookup.Stall`; the rank parks a *retry* callback on the
missing blobref (or namespace) and asks for it (a follower faults it in from its
parent).  When it arrives every parked retry runs again from the top, against the
root current at that moment, exactly like Flux replays a stalled request.

Everything a subclass must provide is at the bottom: how to load an object, how
to fetch a missing object or namespace root, and what to do with the messages
only it understands (``HANDLERS``).
"""

from __future__ import annotations

import errno
import heapq
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from kvs_sim.core.content import LazyBlob
from kvs_sim.core.errors import KVSError, NotSupported, PermissionDenied, message_of
from kvs_sim.core.lookup import MissingObject, MissingRoot, Stall, lookup
from kvs_sim.rank import watch
from kvs_sim.rank.config import RankConfig
from kvs_sim.rank.messages import (
    GetRootReq,
    LookupReq,
    Reply,
    WaitVersionReq,
)
from kvs_sim.rank.port import Port

Retry = Callable[[KVSError | None], None]
"""A parked continuation: called with None once the missing thing arrived, or with
the error that prevented it."""


class RankHooks:
    """Optional observers of rank state, shared by all ranks of a cluster.

    The simulator uses them to record when each rank applied each root; they never
    influence behaviour.  ``root_applied(rank, ns, seq, rootref, time)``.
    """

    __slots__ = ("root_applied",)

    def __init__(self, root_applied: Callable[[int, str, int, str, float], None] | None = None):
        self.root_applied = root_applied


NO_HOOKS = RankHooks()


class NsRoot:
    """What a rank knows of one namespace."""

    __slots__ = ("epoch", "owner", "rootref", "seq", "waiters", "watches")

    def __init__(self, seq: int, rootref: str, owner: int, epoch: int = 0) -> None:
        self.seq = seq
        self.rootref = rootref
        self.owner = owner
        self.epoch = epoch
        self.waiters: list[tuple[int, int]] | None = None  # heap of (version, client)
        self.watches: list[Any] | None = None


class RankBase(ABC):
    """State and transitions shared by the leader and the followers."""

    __slots__ = (
        "_object_waiters",
        "_root_waiters",
        "config",
        "counters",
        "epoch",
        "hooks",
        "parent",
        "port",
        "rank",
        "roots",
        "watches_by_client",
    )

    HANDLERS: ClassVar[dict[type, Callable[[Any, Any], None]]] = {}

    def __init__(
        self, rank: int, parent: int, port: Port, config: RankConfig, hooks: RankHooks
    ) -> None:
        self.rank = rank
        self.parent = parent
        self.port = port
        self.config = config
        self.hooks = hooks
        self.roots: dict[str, NsRoot] = {}
        self.epoch = 0
        """The leader epoch this rank's roots belong to (see :class:`SetRoot`)."""
        self.counters: dict[str, int] | None = None
        self._object_waiters: dict[str, list[Retry]] = {}
        self._root_waiters: dict[str, list[Retry]] = {}
        self.watches_by_client: dict[int, Any] | None = None

    # -- dispatch ----------------------------------------------------------

    def handle(self, msg: Any) -> None:
        """Handle one message.  Unknown message types are counted and dropped."""
        handler = self.HANDLERS.get(type(msg))
        if handler is None:
            self.count("dropped_messages")
            return
        handler(self, msg)

    def start(self) -> None:  # noqa: B027 - a hook; most ranks need nothing at start
        """Called once when the engine starts (a follower may ask for its roots)."""

    def count(self, name: str, n: int = 1) -> None:
        counters = self.counters
        if counters is None:
            counters = self.counters = {}
        counters[name] = counters.get(name, 0) + n

    # -- replies -------------------------------------------------------------

    def reply(self, client: int, value: Any = None, seq: int = -1, final: bool = True) -> None:
        self.deliver(Reply(client=client, value=value, seq=seq, final=final, epoch=self.epoch))

    def reply_error(
        self, client: int, err: KVSError | OSError, final: bool = True, seq: int = -1
    ) -> None:
        """An error reply; ``seq`` is the root version it was found at, if any (a
        lookup's ENOENT says the key was absent at that version)."""
        errnum = err.errno if err.errno is not None else errno.EIO
        self.deliver(
            Reply(
                client=client,
                errnum=errnum,
                errmsg=message_of(err),
                final=final,
                seq=seq,
                epoch=self.epoch,
            )
        )

    def deliver(self, reply: Reply) -> None:
        """Hand a reply to the local client (the leader overrides this for relays)."""
        self.port.respond(reply)

    # -- namespaces and access ------------------------------------------------

    def check_access(self, ns: NsRoot, name: str, userid: int) -> None:
        if userid not in (self.config.instance_owner, ns.owner):
            raise PermissionDenied(errno.EPERM, f"user {userid} may not access namespace {name!r}")

    def ns_for(self, name: str, userid: int, retry: Retry) -> NsRoot | None:
        """The namespace state for a request, or None when the request was parked
        (root being fetched).  Raises NotSupported/PermissionDenied."""
        st = self.roots.get(name)
        if st is None:
            self.want_root(name, retry)
            return None
        self.check_access(st, name, userid)
        return st

    def advance_root(
        self, name: str, st: NsRoot, seq: int, rootref: str, keys: tuple[str, ...] | None
    ) -> None:
        """Move a namespace's root forward; wake version waiters and watches.

        ``keys`` are the keys changed since the previous root, None if unknown (the
        rank skipped versions), in which case every watch looks again."""
        st.seq = seq
        st.rootref = rootref
        hook = self.hooks.root_applied
        if hook is not None:
            hook(self.rank, name, seq, rootref, self.port.now())
        waiters = st.waiters
        if waiters:
            while waiters and waiters[0][0] <= seq:
                _, client = heapq.heappop(waiters)
                self.reply(client, seq, seq=seq)
        if st.watches:
            watch.refresh_watches(self, name, st, keys)

    def drop_namespace(self, name: str) -> None:
        """Forget a namespace; everything waiting on it fails with ENOTSUP."""
        st = self.roots.pop(name, None)
        if st is None:
            return
        err = NotSupported(errno.EOPNOTSUPP, f"namespace {name!r} was removed")
        for _, client in st.waiters or ():
            self.reply_error(client, err)
        for w in list(st.watches or ()):
            watch.end_watch(self, w, err)

    # -- stalls -----------------------------------------------------------------

    def stall(self, exc: Stall, retry: Retry) -> None:
        if isinstance(exc, MissingObject):
            self.want_object(exc.ref, retry)
        elif isinstance(exc, MissingRoot):
            self.want_root(exc.ns, retry)
        else:  # pragma: no cover - the core only raises these two
            raise exc

    def park_object(self, ref: str, retry: Retry) -> bool:
        """Park ``retry`` on ``ref``; True when this is the first waiter (fetch it)."""
        return _park(self._object_waiters, ref, retry)

    def resume_object(self, ref: str, err: KVSError | None) -> None:
        _resume(self._object_waiters, ref, err)

    def park_root(self, name: str, retry: Retry) -> bool:
        """Park ``retry`` on namespace ``name``; True for the first waiter."""
        return _park(self._root_waiters, name, retry)

    def resume_root(self, name: str, err: KVSError | None) -> None:
        _resume(self._root_waiters, name, err)

    def request_ns(self, req: Any) -> NsRoot | None:
        """The namespace a client request names, checked for access; None when the
        request was answered with an error or parked until the root is known."""
        try:
            return self.ns_for(req.ns, req.userid, self.retry_request(req, req.client))
        except KVSError as err:
            self.reply_error(req.client, err)
            return None

    def resolve_ns(self, name: str) -> str:
        """Root of another namespace, for cross-namespace symlinks."""
        st = self.roots.get(name)
        if st is None:
            raise MissingRoot(name)
        return st.rootref

    # -- requests every rank answers itself ---------------------------------------

    def retry_request(self, req: Any, client: int) -> Retry:
        def again(err: KVSError | None) -> None:
            if err is not None:
                self.reply_error(client, err)
            else:
                self.handle(req)

        return again

    def on_lookup(self, req: LookupReq) -> None:
        self.port.work(self.config.service.lookup)
        try:
            st = self.ns_for(req.ns, req.userid, self.retry_request(req, req.client))
        except KVSError as err:
            self.reply_error(req.client, err)
            return
        if st is None:
            return
        # The version served from; unknown for a lookup pinned to a rootref.
        seq = st.seq if req.rootref is None else -1
        self.lookup_at(req, req.rootref or st.rootref, seq)

    def lookup_at(self, req: LookupReq, rootref: str, seq: int) -> None:
        """Answer ``req`` from the root ``rootref``.  A lookup that stalls on a
        missing object resumes at the same root, as Flux replays a stalled lookup
        with its lookup handle: restarting at the rank's newest root instead would
        starve a reader while a writer keeps moving the root."""
        try:
            value = lookup(
                self.load_object, rootref, req.key, want=req.want, resolve_ns=self.resolve_ns
            )
        except Stall as exc:

            def again(err: KVSError | None) -> None:
                if err is not None:
                    self.reply_error(req.client, err)
                else:
                    self.port.work(self.config.service.lookup)
                    self.lookup_at(req, rootref, seq)

            self.stall(exc, again)
            return
        except KVSError as err:
            self.reply_error(req.client, err, seq=seq)
            return
        self.reply(req.client, value, seq=seq)

    def on_getroot(self, req: GetRootReq) -> None:
        self.port.work(self.config.service.message)
        st = self.request_ns(req)
        if st is not None:
            value = {"rootref": st.rootref, "seq": st.seq, "owner": st.owner, "flags": 0}
            self.reply(req.client, value, seq=st.seq)

    def on_wait_version(self, req: WaitVersionReq) -> None:
        self.port.work(self.config.service.message)
        st = self.request_ns(req)
        if st is None:
            return
        if st.seq >= req.version:
            self.reply(req.client, st.seq, seq=st.seq)
            return
        if st.waiters is None:
            st.waiters = []
        heapq.heappush(st.waiters, (req.version, req.client))

    def on_watch(self, req: Any) -> None:
        watch.on_watch(self, req)

    def on_watch_cancel(self, req: Any) -> None:
        watch.on_watch_cancel(self, req)

    def cache_stats(self) -> dict[str, Any]:
        """Flux-like statistics of this rank (``kvs.stats``)."""
        counters = dict(self.counters or {})
        namespaces = {
            name: {
                "seq": st.seq,
                "rootref": st.rootref,
                "owner": st.owner,
                "waiters": len(st.waiters or ()),
                "watchers": len(st.watches or ()),
            }
            for name, st in self.roots.items()
        }
        return {"rank": self.rank, "counters": counters, "namespaces": namespaces}

    # -- to be provided by the leader / follower -----------------------------------

    @abstractmethod
    def load_object(self, ref: str) -> bytes | LazyBlob | None:
        """The object's bytes if this rank holds it (or, at the leader, a
        :class:`~kvs_sim.core.content.LazyBlob`), else None (the lookup stalls)."""

    @abstractmethod
    def want_object(self, ref: str, retry: Retry) -> None:
        """Park ``retry`` until the object is here (a follower faults it in)."""

    @abstractmethod
    def want_root(self, name: str, retry: Retry) -> None:
        """Park ``retry`` until the namespace's root is known, or fail it."""


def _park(waiters: dict[Any, list[Retry]], key: Any, retry: Retry) -> bool:
    parked = waiters.get(key)
    if parked is None:
        waiters[key] = [retry]
        return True
    parked.append(retry)
    return False


def _resume(waiters: dict[Any, list[Retry]], key: Any, err: KVSError | None) -> None:
    for retry in waiters.pop(key, ()):
        retry(err)
