"""The port ranks use while a crash, partition or latency spike is active.

Theory of operation
-------------------
A rank's point-to-point send follows the tree path to its destination
(:mod:`kvs_sim.sim.routing`).  While faults cut or slow links, each send is
checked against them before the engine routes it: a path through a crashed rank
is lost (the ranks below it were told, :class:`~kvs_sim.rank.messages.PeerLost`),
a path across a cut link is held until the heal (:func:`held_send` re-sends it
then) or lost, and a path over a spiked link leaves later by the spikes' extra
latency.  Everything else is the engine's own ``Port``: :class:`FaultPort`
forwards it unchanged.  Ranks get this port only while such a fault is active
(:meth:`kvs_sim.sim.faults.Faults._rewire`), so it costs nothing otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvs_sim.nemesis import Partition, Spike
from kvs_sim.sim.routing import route

if TYPE_CHECKING:
    from kvs_sim.sim.engine import Engine
    from kvs_sim.sim.faults import Faults


class FaultPort:
    """The engine's ``Port``, with sends checked against active faults."""

    __slots__ = ("dropped", "engine", "faults", "held")

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.engine: Engine = faults.engine
        self.dropped = 0
        """Messages lost to a crashed rank on their path or a dropping partition."""
        self.held = 0
        """Messages held by a partition (delivered at the heal)."""

    def now(self) -> float:
        return self.engine.now()

    def work(self, seconds: float) -> None:
        self.engine.work(seconds)

    def publish(self, msg: Any) -> None:
        self.engine.publish(msg)

    def respond(self, msg: Any) -> None:
        self.engine.respond(msg)

    def timer(self, delay: float, msg: Any) -> None:
        self.engine.timer(delay, msg)

    def send(self, dst: int, msg: Any) -> None:
        eng = self.engine
        src = eng._cur
        if src < 0 or dst == src or not 0 <= dst < eng._n:
            eng.send(dst, msg)  # the engine's own checks and errors
            return
        ups, downs = eng.overlay.legs(src, dst)
        links = (*ups, *downs)
        faults = self.faults
        parent = faults.parent
        if faults.crashed:
            on_path = {c for c in links} | {parent[c] for c in links}
            on_path.discard(src)
            if on_path & faults.crashed:
                self.dropped += 1
                return
        extra = 0.0
        for act in faults.active:
            n = act.entry.nemesis
            if isinstance(n, Partition) and not act.links.isdisjoint(links):
                if n.mode == "hold":
                    act.held.append(("send", src, dst, msg))
                    self.held += 1
                else:
                    self.dropped += 1
                return
            if isinstance(n, Spike) and not act.links.isdisjoint(links):
                extra += n.extra
        if extra:
            eng._work += extra
            try:
                eng.send(dst, msg)
            finally:
                eng._work -= extra
        else:
            eng.send(dst, msg)


def held_send(eng: Engine, src: int, dst: int, msg: Any) -> None:
    """Deliver a send a partition held, leaving ``src`` now (the heal)."""
    t = eng.now() + route(eng, src, dst)
    last = eng._pair_last
    if last is not None:
        key = src * eng._n + dst
        t = max(t, last.get(key, 0.0))
        last[key] = t
    eng._push_msg(t, src, dst, msg)
