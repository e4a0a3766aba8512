"""A follower's object traffic: loads from and to the tree, retries, dropcache.

Theory of operation
-------------------
A lookup that misses the cache parks on the blobref and faults it in from the
parent (``Follower.want_object``); :func:`on_load_resp` caches the answer and
wakes every parked lookup.  A child's :class:`LoadReq` is served from the cache,
or faulted in first and then served (:func:`on_load`).  With ``request_retry``,
:func:`on_timer` asks again for what is still awaited: a lost request (a
restarted rank, a lossy or dropping link) is asked for once more, every period,
until it arrives, except while the path upstream is down (crash notices).
``dropcache`` empties the cache.

Idle ranks.  :func:`quiet` says a follower has nothing in flight (no waiter,
watch, commit, relay, load or root fetch), so that a tree event
would only move one namespace's root; the simulator then may hand it a run of
setroots at once (:func:`digest` once per run, :func:`absorb` per rank, when
each comes after the rank is done with the previous one; :mod:`kvs_sim.sim.lazy`).

These are :class:`~kvs_sim.rank.follower.Follower` handlers written as functions
of the follower, listed in its ``HANDLERS``.
"""

from __future__ import annotations

import errno
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from kvs_sim.core.errors import KVSError, error_for
from kvs_sim.rank.messages import DropCacheReq, LoadReq, LoadResp, SetRoot, Timer

if TYPE_CHECKING:
    from kvs_sim.rank.follower import Follower


def on_timer(self: Follower, msg: Timer) -> None:
    """Ask again for what is still awaited (``request_retry``): the rank that
    held the first request may have been restarted and lost it."""
    self.port.work(self.config.service.message)
    retry = self.config.request_retry
    assert retry is not None
    if self._lost:
        self.port.timer(retry, msg)  # nothing gets through until PeerBack
    elif msg.kind == "load" and msg.data in self._object_waiters:
        self.count("load_retries")
        self.port.send(self.parent, LoadReq(origin=self.rank, ref=msg.data))
        self.port.timer(retry, msg)
    elif msg.kind == "root" and msg.data in self._root_waiters:
        self.count("root_retries")
        self.send_root_req(msg.data)
        self.port.timer(retry, msg)
    elif msg.kind == "commit" and msg.data in (self._commits or {}):
        # Still no setroot for an applied commit: it was lost (lossy links).
        # Fetch the current root, which completes the commit when it arrives.
        self.count("commit_root_fetches")
        self.send_root_req(self._commits[msg.data].ns)  # type: ignore[index]
        self.port.timer(retry, msg)


def on_load_resp(self: Follower, msg: LoadResp) -> None:
    self.port.work(self.config.service.message)
    if msg.data is None:
        err = error_for(msg.errnum or errno.EIO, f"blobref {msg.ref} could not be loaded")
        self.resume_object(msg.ref, err)
        return
    now = self.port.now()
    if now - self._last_sweep > self.config.cache_expiry:
        self.sweep(now)
    self.cache[msg.ref] = [msg.data, now]
    self.resume_object(msg.ref, None)


def on_load(self: Follower, msg: LoadReq) -> None:
    self.port.work(self.config.service.load)
    data = self.load_object(msg.ref)
    if data is not None:
        self.count("loads_served")
        self.port.send(msg.origin, LoadResp(ref=msg.ref, data=data))
        return

    def answer(err: KVSError | None) -> None:
        if err is not None:
            self.port.send(msg.origin, LoadResp(ref=msg.ref, errnum=err.errno or errno.EIO))
        else:
            on_load(self, msg)

    self.want_object(msg.ref, answer)


def on_dropcache(self: Follower, req: DropCacheReq) -> None:
    self.port.work(self.config.service.message)
    self.count("dropped_objects", len(self.cache))
    self.cache = {}
    self.reply(req.client, None)


def quiet(self: Follower) -> bool | None:
    """True when nothing is in flight at this follower (see the module docstring);
    None when it never will be (a recorder sees every root it applies)."""
    if self.hooks.root_applied is not None:
        return None
    if (
        self._commits
        or self._relays
        or self._lost
        or self._object_waiters
        or self._root_waiters
        or self.watches_by_client
    ):
        return False
    return not any(st.waiters or st.watches for st in self.roots.values())


def digest(events: list[Any]) -> tuple[SetRoot, ...] | None:
    """What a run of tree events (in the order rank 0 published them) leaves at a
    quiet follower: the newest setroot of each namespace, in order; None if one
    is not a setroot.  A function of the events alone, so the simulator computes
    it once for every rank that takes the same run."""
    kinds = set(map(type, events))
    if len(kinds) != 1 or SetRoot not in kinds:
        return None
    if len(set(map(_ns, events))) > 1:
        return tuple({msg.ns: msg for msg in events}.values())
    return (events[-1],)


def absorb(self: Follower, newest: tuple[SetRoot, ...] | None, room: float) -> float | None:
    """A quiet follower takes a run of tree events at once, given its
    :func:`digest`: the state handling them one by one would leave (each
    namespace at its newest setroot of the epoch held), when each costs less
    than ``room`` seconds (the simulator's bound under which each is taken at its
    arrival).  Returns that service time (they cost the same), or None, having
    changed nothing, if one is not a setroot, one starts a new epoch, or they cost
    ``room`` or more (then the simulator hands them over one by one)."""
    w = self.config.service.setroot
    if newest is None or not w < room:
        return None
    roots = self.roots
    for msg in newest:  # epochs never decrease in publication order
        st = roots.get(msg.ns)
        if st is not None and msg.epoch > st.epoch:
            return None
    for msg in newest:
        st = roots.get(msg.ns)
        if st is not None and msg.epoch == st.epoch and msg.seq > st.seq:
            st.seq = msg.seq
            st.rootref = msg.rootref
    return w


_ns = attrgetter("ns")
