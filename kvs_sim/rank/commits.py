"""A follower's commits: relayed to the leader, answered when their setroot comes.

Theory of operation
-------------------
:func:`on_commit` names the transaction cluster-unique (``rank.counter``, or
``rank~restarts.counter`` after a restart), keeps a :class:`PendingCommit` and
relays it to the leader.  The client is answered when the setroot *naming* the
transaction is applied here (:func:`complete_commits`), so the committer's next
read on this rank sees its write (read-your-writes).  The answer follows
``commit_response`` (:func:`answer_commit`): ``observed`` (Flux 0.88) reports the
root this rank had *before* applying it, ``documented`` the root the commit
produced.

The leader's :class:`RelayCommitResp` says which version the commit produced
(:func:`on_commit_resp`).  If the root already moved past it without an event
naming it (events lost, or a root fetched from the leader), the commit is
answered then; later roots complete such commits too (:func:`complete_late`).
With ``ryw_via="response"`` (the older design) the committer does not wait for
the setroot: the root in the response becomes this rank's root at once.

These are :class:`~kvs_sim.rank.follower.Follower` handlers and helpers written
as functions of the follower, listed in its ``HANDLERS`` or bound as methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvs_sim.core.errors import error_for
from kvs_sim.rank import recovery
from kvs_sim.rank.messages import CommitReq, RelayCommit, RelayCommitResp, SetRoot, Timer

if TYPE_CHECKING:
    from kvs_sim.rank.follower import Follower


class PendingCommit:
    """A relayed commit waiting for its setroot."""

    __slots__ = ("client", "epoch", "fresh", "ns", "rootref", "seq")

    def __init__(self, client: int, ns: str, epoch: int, fresh: bool) -> None:
        self.client = client
        self.ns = ns
        self.seq = -1  # the version it produced, once the leader said so
        self.rootref = ""  # ... and that version's root
        self.epoch = epoch  # ... in this leader epoch
        self.fresh = fresh  # relayed after a crash notice: it went to a restarted leader

    def done_by(self, epoch: int, seq: int) -> bool:
        """True if a root ``(epoch, seq)`` contains this commit's version."""
        return self.seq >= 0 and (self.epoch, self.seq) <= (epoch, seq)


def on_commit(self: Follower, req: CommitReq) -> None:
    self.port.work(self.config.service.message)
    if self._lost:
        self.reply_error(req.client, recovery.unreachable(min(self._lost)))
        return
    st = self.request_ns(req)
    if st is None:
        return
    self._txn_counter += 1
    name = f"{self._txn_prefix}{self._txn_counter}"
    if self._commits is None:
        self._commits = {}
    self._commits[name] = PendingCommit(req.client, req.ns, self.epoch, self.loss_seen)
    self.port.send(
        0,
        RelayCommit(
            origin=self.rank,
            name=name,
            ns=req.ns,
            ops=req.ops,
            flags=req.flags,
            userid=req.userid,
            epoch=st.epoch,
        ),
    )


def on_commit_resp(self: Follower, msg: RelayCommitResp) -> None:
    self.port.work(self.config.service.message)
    pending = (self._commits or {}).get(msg.name)
    if pending is None:
        return  # already answered when its setroot arrived
    if msg.errnum:
        del self._commits[msg.name]  # type: ignore[union-attr]
        self.reply_error(pending.client, error_for(msg.errnum, msg.errmsg))
        return
    pending.seq = msg.seq
    pending.rootref = msg.rootref
    pending.epoch = msg.epoch
    st = self.roots.get(msg.ns)
    behind = st is not None and (st.epoch, st.seq) < (msg.epoch, msg.seq)
    if st is not None and behind and self.config.ryw_via == "response":
        # The older design: the response carries the new root; take it now.
        del self._commits[msg.name]  # type: ignore[union-attr]
        before = (st.seq, st.rootref)
        if msg.epoch > st.epoch:
            self.new_epoch(msg.ns, st, msg.epoch, (msg.name,))
        self.advance_root(msg.ns, st, msg.seq, msg.rootref, None)
        answer_commit(self, pending, msg.seq, msg.rootref, before)
        complete_late(self, msg.ns, st.epoch, msg.seq, msg.rootref)
    elif st is not None and not behind:
        # The root moved past this commit without an event naming it.
        del self._commits[msg.name]  # type: ignore[union-attr]
        answer_commit(self, pending, msg.seq, msg.rootref, (st.seq, st.rootref))
    elif self.config.request_retry is not None:
        self.port.timer(self.config.request_retry, Timer(kind="commit", data=msg.name))


def complete_commits(self: Follower, msg: SetRoot, before: tuple[int, str]) -> None:
    """Answer the commits setroot ``msg`` (just applied) names, and any it passed."""
    commits = self._commits
    assert commits is not None
    for name in msg.names:
        pending = commits.pop(name, None)
        if pending is not None:
            answer_commit(self, pending, msg.seq, msg.rootref, before)
    complete_late(self, msg.ns, msg.epoch, msg.seq, msg.rootref)


def complete_late(self: Follower, ns: str, epoch: int, seq: int, rootref: str) -> None:
    """Answer commits the leader said produced a version up to ``(epoch, seq)``
    whose setroot never came (lost, or skipped by a root fetched from the leader)."""
    commits = self._commits or {}
    late = [name for name, p in commits.items() if p.ns == ns and p.done_by(epoch, seq)]
    for name in late:
        pending = commits.pop(name)
        answer_commit(self, pending, pending.seq, pending.rootref, (seq, rootref))


def answer_commit(
    self: Follower, pending: PendingCommit, seq: int, rootref: str, before: tuple[int, str]
) -> None:
    """Answer a commit that produced version ``seq`` (root ``rootref``); ``before``
    is the root this rank served before it took the commit's version (what Flux
    0.88 reports; when the setroot was skipped, the root it has now)."""
    if self.config.commit_response == "observed":
        value = {"seq": before[0], "rootref": before[1]}
    else:
        value = {"seq": seq, "rootref": rootref}
    self.reply(pending.client, value, seq=seq)
