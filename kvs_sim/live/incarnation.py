"""A hosted rank's incarnations: its port, a crash inside its process, a restart.

Theory of operation
-------------------
Every hosted rank talks to the engine through a :class:`RankPort`, the
:class:`~kvs_sim.rank.port.Port` of one *incarnation* of the rank.  A crash of a
rank that shares its process with others (a ``crash`` fault on the nemesis
topic, see :mod:`kvs_sim.live.faults`; a rank alone in its process is SIGKILLed
instead) is what a SIGKILL would do to that rank alone, as the simulator does it:

* its port dies: whatever the old incarnation still sends, publishes, answers
  or arms as a timer is dropped, so no message leaves a crashed rank and no
  timer of its previous life reaches the next one;
* its clients get ``ECONNRESET`` for every request in flight
  (:func:`~kvs_sim.rank.recovery.connection_reset`), and so do requests sent to it
  while it is down;
* messages for it, or routed through it, are dropped where they enter the
  process (``Pump.route``, :mod:`kvs_sim.live.pump`), and so are tree events
  (its subtree misses them, as in the simulator); messages queued *inside* the
  process for it (a
  pause or a slow rank's queue) carry its generation and are dropped when
  released (:attr:`Incarnations.gen`);
* the ranks below it are told ``PeerLost`` by every engine that hosts one
  (:mod:`kvs_sim.live.notices`), from the same nemesis state.

At the heal the rank is rebuilt with a new port: a follower rejoins cold from
its parent's root (``rejoin``), the leader resumes from its backing store's last
checkpoint in a new epoch, exactly as a restarted process would, but in
milliseconds rather than the seconds a Python process takes to start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kvs_sim.rank.recovery import connection_reset

if TYPE_CHECKING:
    from kvs_sim.live.engine import LiveEngine


class RankPort:
    """The :class:`~kvs_sim.rank.port.Port` of one incarnation of a hosted rank."""

    __slots__ = ("dead", "engine", "rank", "worked")

    def __init__(self, engine: LiveEngine, rank: int) -> None:
        self.engine = engine
        self.rank = rank
        self.dead = False
        """The incarnation crashed: everything it does is dropped."""
        self.worked = 0.0
        """Seconds of modelled service the rank charged so far (a meter)."""

    def now(self) -> float:
        # The clock every process on the machine shares, at full resolution: not
        # loop.time(), which uvloop keeps in milliseconds, cached per iteration.
        return time.monotonic()

    def work(self, seconds: float) -> None:
        """Real time: the CPU time actually spent is the cost.  The modelled
        service time (:class:`~kvs_sim.rank.config.ServiceTimes`) is only metered,
        for a slow rank (:mod:`kvs_sim.live.faults`), which stays busy for a
        multiple of it."""
        self.worked += seconds

    def send(self, dst: int, msg: Any) -> None:
        if self.dead:
            return
        eng = self.engine
        eng.stats["sent"] += 1
        eng.send_hop(eng.overlay.next_hop(self.rank, dst), dst, self.rank, msg)

    def publish(self, msg: Any) -> None:
        if not self.dead:
            self.engine.publish_event(self.rank, msg)

    def respond(self, msg: Any) -> None:
        if not self.dead:
            self.engine.respond(msg)

    def timer(self, delay: float, msg: Any) -> None:
        if not self.dead:
            self.engine.loop.call_later(max(0.0, delay), self._fire, msg)

    def _fire(self, msg: Any) -> None:
        if not self.dead:
            self.engine.deliver(self.rank, msg)


class Incarnations:
    """Crashes and restarts of hosted ranks inside their process (see the module doc)."""

    def __init__(self, engine: LiveEngine, build: Callable[..., Any]) -> None:
        self.engine = engine
        self.build = build
        """``build(rank, port, **extra)`` -> a new rank object."""
        self.ports: dict[int, RankPort] = {}
        self.down: set[int] = set()
        self.gen: dict[int, int] = {}
        """Each hosted rank's generation: bumped at every crash."""
        self.restarts: dict[int, int] = {}

    def port(self, rank: int) -> RankPort:
        """A fresh port for a new incarnation of ``rank``."""
        p = self.ports[rank] = RankPort(self.engine, rank)
        self.gen.setdefault(rank, 0)
        return p

    def worked(self, rank: int) -> float:
        """The modelled service seconds ``rank``'s current incarnation charged."""
        port = self.ports.get(rank)
        return port.worked if port is not None else 0.0

    def apply(self, crashed: frozenset[int]) -> None:
        """Make the hosted ranks of ``crashed`` down, and restart the others that were."""
        hosted = set(self.engine.ranks)
        for r in sorted((crashed & hosted) - self.down):
            self.crash(r)
        for r in sorted(self.down - crashed):
            self.restart(r)

    def crash(self, r: int) -> None:
        eng = self.engine
        self.down.add(r)
        self.gen[r] = self.gen.get(r, 0) + 1
        self.ports[r].dead = True
        epoch = int(getattr(eng.ranks[r], "epoch", 0))
        for cid in eng.clients_of(r):
            eng.respond(connection_reset(cid, epoch))
        eng.stats["crashes"] = eng.stats.get("crashes", 0) + 1

    def refuse(self, r: int, msg: Any) -> None:
        """``msg`` reached crashed ``r``: gone; a client's request is answered
        ``ECONNRESET`` (as its broker's connection would be reset)."""
        eng = self.engine
        eng.stats["dropped"] += 1
        cid = getattr(msg, "client", None)
        if type(cid) is int and eng.client_rank(cid) == r:
            eng.respond(connection_reset(cid, int(getattr(eng.ranks[r], "epoch", 0))))

    def restart(self, r: int) -> None:
        """A new, cold incarnation of ``r`` (see the module doc)."""
        eng = self.engine
        self.down.discard(r)
        old = eng.ranks[r]
        self.restarts[r] = self.restarts.get(r, 0) + 1
        extra: dict[str, Any] = {}
        if r == 0:
            backing = getattr(getattr(old, "content", None), "backing", None)
            extra["store"] = eng.store if eng.store is not None else backing
            extra["epoch"] = int(getattr(old, "epoch", 0)) + 1  # as a supervisor restarts it
        else:
            extra["rejoin"] = self.restarts[r]
        new = self.build(r, self.port(r), **extra)
        eng.ranks[r] = new
        eng.notices.forget(r)
        try:
            new.start()
        except Exception:  # logged as a failed start() is at start-up
            import logging

            logging.getLogger("kvs_sim.live").exception("rank %d: restart failed", r)
