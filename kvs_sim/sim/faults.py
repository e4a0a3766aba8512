"""Nemeses in virtual time: how the simulator applies the model of :mod:`kvs_sim.nemesis`.

Theory of operation
-------------------
:class:`Faults` belongs to one :class:`~kvs_sim.sim.cluster.Cluster`.  It starts
and heals scheduled nemeses with engine callbacks (so faults are part of the
trace: same seed, same faults, same run), records each interval in the history
(``Recorder.nemesis`` / ``heal``), and changes only how messages move:

* **crash**: the rank's handler becomes a sink; its clients' requests in flight
  get ``ECONNRESET`` (and so do requests sent to it while it is down); every rank
  below it gets :class:`~kvs_sim.rank.messages.PeerLost`, and fails what waited
  upstream (:mod:`kvs_sim.rank.recovery`); events stop at it (it forwarded them,
  its subtree misses them).  A **restart** builds a new rank: a follower rejoins
  cold from its parent's root, the leader resumes from its backing store's
  checkpoint in a new epoch.  What a leader crash lost (versions created since
  the last checkpoint, and the commits acknowledged in them) goes into the crash
  record's detail;
* **partition**: messages whose tree path crosses a cut link, and events reaching
  a rank across one, are held until the heal (then delivered in order) or
  dropped;
* **pause**: setroot events reaching the rank are held (its broker still forwards
  them below) and delivered in order at the unpause;
* **slow**: the rank's declared service time is multiplied;
* **spike**: messages and events crossing the link arrive later;
* **loss**: events crossing a lossy link are lost (the engine's own rng draws).

Cost.  Per-delivery checks run in the engine's plain path only, switched on
(``Engine.slow_path`` and ``_gate``) while a fault needs them; sends go through a
checking port (:class:`FaultPort`) only while a crash, partition or spike is
active; a slow rank only wraps its handler.  With no fault active, nothing here
runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kvs_sim.nemesis import Crash, Loss, Partition, Pause, Scheduled, Slow, Spike, subtree
from kvs_sim.rank import make_rank
from kvs_sim.rank.messages import EVENT_TYPES, PeerBack, PeerLost, SetRoot, Timer
from kvs_sim.rank.recovery import connection_reset
from kvs_sim.sim import lazy
from kvs_sim.sim.events import fanout
from kvs_sim.sim.faults_port import FaultPort, held_send
from kvs_sim.sim.state import BROKER

if TYPE_CHECKING:
    from kvs_sim.sim.cluster import Cluster


class _Active:
    """One nemesis in effect: its entry, history record, and what it holds."""

    __slots__ = ("entry", "held", "links", "lost", "record", "separated")

    def __init__(self, entry: Scheduled, record: int) -> None:
        self.entry = entry
        self.record = record
        self.links: frozenset[int] = frozenset()  # cut/affected links, by child rank
        self.separated: frozenset[int] = frozenset()  # ranks cut off from rank 0
        self.held: list[tuple[Any, ...]] = []
        self.lost: dict[str, Any] = {}


class Faults:
    """The nemeses of one simulated cluster (see the module docstring)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.engine = cluster.engine
        lazy.off(self.engine)  # faults look at every delivery
        self.parent = list(cluster.overlay.parent)
        self.active: list[_Active] = []
        self.crashed: set[int] = set()
        self.restarts = [0] * cluster.size
        self.restart_seq = [0] * cluster.size
        self.delayed: set[tuple[int, int]] = set()
        self.port = FaultPort(self)
        self.process: Iterator[Scheduled] | None = None
        self.stopped = False
        self.started = 0

    # -- scheduling ---------------------------------------------------------------

    def schedule(self, entries: Iterable[Scheduled]) -> None:
        """Start each entry at its time (relative to now) and heal it after its duration."""
        now = self.engine.now()
        for e in entries:
            self.engine.call_at(now + e.at, self.start, e)

    def random(self, process: Iterator[Scheduled]) -> None:
        """Run a nemesis process: one fault at a time, the next after each heal."""
        self.process = process
        self._next()

    def _next(self) -> None:
        if self.process is None or self.stopped:
            return
        e = next(self.process)
        self.engine.call_at(max(e.at, self.engine.now()), self.start, e, True)

    def start(self, e: Scheduled, from_process: bool = False) -> None:
        if self.stopped:
            return
        n = e.nemesis
        now = self.engine.now()
        if isinstance(n, Crash) and n.rank in self.crashed:
            if from_process:
                self._next()
            return
        rec = self.cluster.recorder
        detail = {**n.detail(self.parent), "for": e.duration}
        index = -1
        if rec is not None:
            index = rec.nemesis(
                name=n.name, start=now, ranks=n.affected(self.parent), detail=detail
            )
        act = _Active(e, index)
        self.active.append(act)
        self.started += 1
        if isinstance(n, Partition):
            act.links = frozenset(c for _, c in n.cut(self.parent))
            act.separated = frozenset(self._separated(act.links))
            if n.mode == "drop":  # past its timeouts, the overlay sees the peer lost
                self._notify(act.links, PeerLost)
        elif isinstance(n, Spike):
            a, b = n.link
            act.links = frozenset({b if self.parent[b] == a else a})
        elif isinstance(n, Loss):
            chosen = n.links or ()
            act.links = frozenset(b if self.parent[b] == a else a for a, b in chosen)
        elif isinstance(n, Crash):
            self._crash(n.rank, act)
        self._rewire()
        if e.duration is not None:
            self.engine.call_later(e.duration, self.heal, act, from_process)

    def heal(self, act: _Active, from_process: bool = False) -> None:
        if act not in self.active:
            return
        self.active.remove(act)
        n = act.entry.nemesis
        eng = self.engine
        now = eng.now()
        extra: dict[str, Any] = {}
        if isinstance(n, Crash):
            extra = self._restart(n.rank, act)
        elif isinstance(n, Partition) and n.mode == "hold":
            for item in act.held:
                if item[0] == "send":
                    held_send(eng, item[1], item[2], item[3])
                else:
                    _push(eng, now, item[1], item[2])
        elif isinstance(n, Partition):  # dropped: the ranks cut off catch up
            self._notify(act.links, PeerBack)
        elif isinstance(n, Pause):
            for item in act.held:
                eng._push_msg(now, n.rank, n.rank, item[2])
        self._rewire()
        rec = self.cluster.recorder
        if rec is not None and act.record >= 0:
            rec.heal(act.record, time=now, detail=extra)
        if from_process:
            self._next()

    def heal_all(self) -> None:
        """End of the run: stop the nemesis process and heal every active fault."""
        self.stopped = True
        for act in list(self.active):
            self.heal(act)

    # -- crash and restart --------------------------------------------------------

    def _crash(self, r: int, act: _Active) -> None:
        eng = self.engine
        cluster = self.cluster
        now = eng.now()
        rank = cluster.ranks[r]
        if r == 0:
            ckpt = rank.checkpoints  # type: ignore[attr-defined]
            at_risk = ckpt.at_risk()
            act.lost = {
                "checkpoint": ckpt.seq,
                "lost_epoch": rank.epoch,
                "lost_versions": [seq for seq, _ in at_risk],
            }
            rec = cluster.recorder
            if rec is not None and act.record >= 0:
                rec.amend(act.record, act.lost)
        self.crashed.add(r)
        for cid, (owner, on_reply) in list(eng._clients.items()):
            if owner == r:
                del eng._clients[cid]
                reply = connection_reset(cid, rank.epoch)
                eng._call(now + eng._client_latency, eng._reply_arrives, r, on_reply, reply)
        for d in subtree(self.parent, r):
            if d != r and d not in self.crashed:
                self._tell(d, PeerLost(rank=r))

    def _restart(self, r: int, act: _Active) -> dict[str, Any]:
        eng = self.engine
        cluster = self.cluster
        now = eng.now()
        old = cluster.ranks[r]
        self.restarts[r] += 1
        self.restart_seq[r] = eng._next()
        if r == 0:
            new = make_rank(
                0,
                -1,
                eng,
                cluster.config,
                store=old.content.backing,  # type: ignore[attr-defined]
                hooks=old.hooks,
                epoch=old.epoch + 1,
            )
        else:
            new = make_rank(
                r, self.parent[r], eng, cluster.config, hooks=old.hooks, rejoin=self.restarts[r]
            )
        cluster.ranks[r] = new
        self.crashed.discard(r)
        self._rewire()
        for a in self._ancestors(r):  # the new rank learns what is still down above it
            if a in self.crashed:
                self._tell(r, PeerLost(rank=a))
        rec = cluster.recorder
        if r == 0 and rec is not None:
            st = new.roots["primary"]
            rec.root(rank=0, version=st.seq, time=now, epoch=new.epoch)
        eng._handle(r, _call, new.start, now)
        for d in subtree(self.parent, r):
            if d != r and d not in self.crashed:
                self._tell(d, PeerBack(rank=r))
        if r != 0:
            return {}
        return {"epoch": new.epoch, "lost_ops": self.lost_ops(act.lost)}

    def lost_ops(self, lost: dict[str, Any]) -> list[int]:
        """Ids of commits acknowledged in versions a leader crash lost."""
        rec = self.cluster.recorder
        if rec is None or not lost.get("lost_versions"):
            return []
        versions = set(lost["lost_versions"])
        epoch = lost["lost_epoch"]
        return [
            o.id
            for o in rec.history().ops
            if o.op == "commit" and o.ok and o.epoch == epoch and o.version in versions
        ]

    def _notify(self, links: frozenset[int], kind: type) -> None:
        """Tell every live rank below each cut link (by child) that the rank above
        the link is lost (``PeerLost``) or back (``PeerBack``)."""
        for c in sorted(links):
            for d in subtree(self.parent, c):
                if d not in self.crashed and d != 0:
                    self._tell(d, kind(rank=self.parent[c]))

    # -- wiring -------------------------------------------------------------------

    def _tell(self, d: int, notice: Any) -> None:
        """Hand an overlay notice to rank ``d`` now, as its broker would: at once,
        not queued behind its messages (a queued notice could reach the rank's next
        incarnation).  Its work still counts, after what the rank was busy with."""
        eng = self.engine
        now = eng.now()
        eng._cur, eng._work = d, 0.0
        try:
            self.cluster.ranks[d].handle(notice)
        finally:
            eng._cur = -1
            eng._now = now
        w = eng._work
        if w:
            eng._busy[d] = max(eng._busy[d], now) + w
            eng._busy_time[d] += w

    def _ancestors(self, r: int) -> list[int]:
        out = []
        while self.parent[r] >= 0:
            r = self.parent[r]
            out.append(r)
        return out

    def _separated(self, links: frozenset[int]) -> set[int]:
        """Ranks whose path to rank 0 crosses one of ``links`` (by child rank)."""
        out: set[int] = set()
        for c in links:
            out.update(subtree(self.parent, c))
        return out

    def _rewire(self) -> None:
        """Install what the active faults need, and nothing more."""
        eng = self.engine
        cluster = self.cluster
        slow: dict[int, float] = {}
        gated = bool(self.crashed)
        ported = bool(self.crashed)
        for act in self.active:
            n = act.entry.nemesis
            if isinstance(n, Slow):
                slow[n.rank] = slow.get(n.rank, 1.0) * n.factor
            else:
                gated = True
                ported = ported or isinstance(n, Partition | Spike)
        for r, rank in enumerate(cluster.ranks):
            rank.port = self.port if ported else eng
            if r in self.crashed:
                eng._handlers[r] = _dead
            elif r in slow:
                eng._handlers[r] = _slowed(eng, rank.handle, slow[r])
            else:
                eng._handlers[r] = rank.handle
        eng._gate = self.gate if gated else None
        eng.slow_path = gated

    # -- the gate: every arrival while a fault is active ---------------------------

    def gate(self, t: float, seq: int, code: int, r: int, msg: Any) -> bool:
        eng = self.engine
        if r in self.crashed:
            cid = getattr(msg, "client", -1)
            entry = eng._clients.get(cid) if type(cid) is int else None
            if entry is not None and entry[0] == r:
                del eng._clients[cid]
                reply = connection_reset(cid)
                eng._call(t + eng._client_latency, eng._reply_arrives, r, entry[1], reply)
            return False
        if self.restarts[r] and seq < self.restart_seq[r] and type(msg) is Timer:
            return False  # a timer of the rank's previous life
        if type(msg) not in EVENT_TYPES:
            return True
        tree = code >= eng._n
        for act in self.active:
            n = act.entry.nemesis
            if isinstance(n, Partition):
                if (r in act.links) if tree else (r in act.separated):
                    if n.mode == "hold":
                        act.held.append(("event", code, msg))
                    return False
            elif isinstance(n, Loss):
                if (n.links is None or r in act.links) and eng._rng.random() < n.rate:
                    eng.events_lost += 1
                    return False
            elif isinstance(n, Spike):
                if r in act.links and (seq, r) not in self.delayed:
                    key = _push(eng, t + n.extra, code, msg)
                    self.delayed.add((key, r))
                    return False
            elif isinstance(n, Pause) and n.rank == r and type(msg) is SetRoot:
                if tree:
                    fanout(eng, t, eng._hop_cost, r, msg, None)
                act.held.append(("event", code, msg))
                return False
        self.delayed.discard((seq, r))
        return True


def _push(eng: Any, t: float, code: int, msg: Any) -> int:
    """Push a heap entry; return its sequence number."""
    from heapq import heappush

    seq = eng._next()
    heappush(eng._heap, (t, seq, code, msg))
    if code < eng._n and eng._tracer is not None:
        eng._srcs[seq] = BROKER
    return int(seq)


def _dead(msg: Any) -> None:
    """The handler of a crashed rank: whatever reaches it is gone."""


def _slowed(eng: Any, handle: Callable[[Any], None], factor: float) -> Callable[[Any], None]:
    def slow(msg: Any) -> None:
        before = eng._work
        handle(msg)
        eng._work = before + (eng._work - before) * factor

    return slow


def _call(fn: Callable[[], Any]) -> None:
    fn()
