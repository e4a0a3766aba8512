"""What a follower does when a rank crashes or the leader restarts (no I/O).

Theory of operation
-------------------
Flux's overlay tracks the RPCs it routes; when a peer disconnects, every RPC in
flight through it is answered with ``EHOSTUNREACH`` so callers fail fast rather
than hang, and a client whose own broker goes away sees ``ECONNRESET``.  kvs-sim
does the same, split between the engine (which knows who crashed) and the rank
(which knows what it waits for):

* the engine tells every rank below a crashed rank :class:`PeerLost` (and
  :class:`PeerBack` when it restarts, or when a partition that dropped messages
  heals: the rank then fetches the current roots it missed), and answers the
  crashed rank's own clients with ``ECONNRESET`` (:func:`connection_reset`);
* :func:`peer_lost` fails what the follower waits for upstream: object loads from
  a lost parent (the lookups parked on them, the children's loads it relays),
  namespace roots, relayed commits and relayed requests, all with
  ``EHOSTUNREACH``.  Until :func:`peer_back`, new upstream requests fail the same
  way (the follower's ``want_object``/``want_root``/``on_commit``/``on_relayed``).
  Reads the follower can serve from its cache keep working: its root stays.

A failed commit's fate is unknown to its client (it may have been applied before
the crash, or be lost with it): the client layer records it as indeterminate.

**Epochs.**  A restarted leader resumes from its last checkpoint in a new epoch
and announces its root.  :func:`adopt_epoch` makes a follower take that root even
if its sequence is lower, so nobody stays on a root the leader lacks.  Commits
still waiting: those the setroot names are answered as usual; those relayed
after a crash notice went to the restarted leader and keep waiting; any other
(relayed to the old leader, e.g. live when the restarted leader's root arrives
before the notice that it had gone) is failed with ``ECONNRESET``: it may or may
not be in the new epoch.

**Rejoin.**  A restarted follower is a new, cold rank that asks its *parent* for
the current root (:func:`answer_root_req` on the parent), as a Flux broker's KVS
module does when it loads.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from kvs_sim.core.errors import KVSError, error_for
from kvs_sim.rank.messages import Reply, RootReq, RootResp, Timer

if TYPE_CHECKING:
    from kvs_sim.rank.base import NsRoot
    from kvs_sim.rank.follower import Follower


def unreachable(rank: int) -> KVSError:
    """The error of a request whose path to the leader crosses crashed ``rank``."""
    return error_for(errno.EHOSTUNREACH, f"rank {rank} is unreachable (crashed or cut off)")


def connection_reset(client: int, epoch: int = 0) -> Reply:
    """The final reply a client of a crashed rank gets for each request in flight."""
    return Reply(
        client=client,
        errnum=errno.ECONNRESET,
        errmsg="RPC aborted: the rank this client is connected to crashed",
        epoch=epoch,
    )


def peer_lost(f: Follower, rank: int) -> None:
    """``rank`` on ``f``'s path to the leader crashed: fail what waits upstream."""
    f.port.work(f.config.service.message)
    if f._lost is None:
        f._lost = set()
    f._lost.add(rank)
    f.loss_seen = True
    f.count("peers_lost")
    err = unreachable(rank)
    if rank == f.parent:
        for ref in list(f._object_waiters):
            f.resume_object(ref, err)
    for name in list(f._root_waiters):
        f.resume_root(name, err)
    for pending in (f._commits or {}).values():
        f.reply_error(pending.client, err)
    f._commits = None
    for client in sorted(f._relays or ()):
        f.reply_error(client, err)
    f._relays = None


def peer_back(f: Follower, rank: int) -> None:
    """``rank`` restarted (or a cut link healed): requests may travel through it
    again, and the roots published meanwhile may have missed this rank, so it asks
    the leader for each namespace's current root."""
    f.port.work(f.config.service.message)
    if f._lost is not None:
        f._lost.discard(rank)
        if not f._lost:
            f._lost = None
    if f._lost:
        return
    if "primary" not in f.roots:
        f.start()  # it restarted while the path was down: join now
    for name in sorted(f.roots):
        f.send_root_req(name)
        # Asked again after ``request_retry`` if no answer came: live, a heal
        # reaches the processes one by one, and one still cutting the link may
        # drop this request.
        if f.park_root(name, _nothing) and f.config.request_retry is not None:
            f.port.timer(f.config.request_retry, Timer(kind="root", data=name))


def rejoin(f: Follower) -> None:
    """A restarted follower takes its parent's current root, and asks the leader
    too: the parent may be behind (paused, or it missed events), and the events
    published while this rank was down never reach it."""
    if f._lost and f.parent in f._lost:
        return  # :func:`peer_back` starts it when the parent is back
    if f.park_root("primary", _nothing):
        f.port.send(f.parent, RootReq(origin=f.rank, ns="primary", userid=f.config.instance_owner))
        if f.config.request_retry is not None:
            f.port.timer(f.config.request_retry, Timer(kind="root", data="primary"))
    if not f._lost:
        f.send_root_req("primary")


def _nothing(err: KVSError | None) -> None:
    """Retry of a root fetched at a rejoin or a heal: nothing waits for it."""


def adopt_epoch(f: Follower, name: str, st: NsRoot, epoch: int, named: tuple[str, ...]) -> None:
    """Move namespace ``name`` to leader ``epoch`` (its root follows); see above."""
    st.epoch = epoch
    if name == "primary":
        f.epoch = epoch
    f.count("leader_restarts")
    commits = f._commits or {}
    for n, p in list(commits.items()):
        if p.ns != name:
            continue
        if p.fresh or n in named or p.epoch >= epoch:
            p.fresh = False
            if p.seq < 0:
                p.epoch = epoch
            continue
        del commits[n]
        f.reply_error(
            p.client,
            ConnectionResetError(
                errno.ECONNRESET, "the leader restarted: this commit may or may not be applied"
            ),
        )
    f.loss_seen = False


def answer_root_req(f: Follower, msg: RootReq) -> None:
    """Answer a child's root request from ``f``'s own root (fetched first if needed)."""
    st = f.roots.get(msg.ns)
    if st is None:

        def again(err: KVSError | None) -> None:
            if err is None:
                answer_root_req(f, msg)
            else:
                f.port.send(msg.origin, _error(msg.ns, err))

        f.want_root(msg.ns, again)
        return
    try:
        f.check_access(st, msg.ns, msg.userid)
    except KVSError as err:
        f.port.send(msg.origin, _error(msg.ns, err))
        return
    f.port.send(
        msg.origin,
        RootResp(ns=msg.ns, seq=st.seq, rootref=st.rootref, owner=st.owner, epoch=st.epoch),
    )


def _error(ns: str, err: Any) -> RootResp:
    return RootResp(ns=ns, errnum=err.errno or errno.EIO, errmsg=err.strerror or str(err))
