"""The virtual-time engine: moves messages between ranks; decides nothing.

Theory of operation
-------------------
:class:`Engine` is the ``Port`` every simulated rank gets (``now``, ``work``,
``send``, ``publish``, ``respond``, ``timer``: this module), plus what client code
uses (:mod:`kvs_sim.sim.clients`) and read-only counters
(:mod:`kvs_sim.sim.stats`).  The rest lives in one module per concept:

=============================  ==================================================
:mod:`kvs_sim.sim.state`       the slots, the heap codes, service time and rank
                               FIFOs, the primitives every path shares
:mod:`kvs_sim.sim.loop`        the inlined hot loop and the plain path (``step``,
                               ``slow_path``: where fault hooks go)
:mod:`kvs_sim.sim.routing`     point-to-point routes and messages per link
:mod:`kvs_sim.sim.events`      how a published event reaches every rank (tree or
                               broker mode, loss, per-link order)
:mod:`kvs_sim.sim.lazy`        rank 0's events to idle subtrees: recorded once,
                               taken in bulk when the run ends or anything looks
:mod:`kvs_sim.sim.settle`      how lazy ranks take them (runs, the walk from
                               every top, counters as the eager engine keeps them)
:mod:`kvs_sim.sim.clients`     requests, ``call_at``, ``spawn``, ``run`` and
                               ``run_until_complete``
=============================  ==================================================

Time.  ``now()`` is the time the current message was taken (declared work does not
advance it); ``send``, ``publish``, ``respond`` and ``timer`` leave at ``now() +
work declared so far``, and the rank takes its next message at ``now() + total
work`` (so ranks declare work before sending).

Order and randomness.  One heap ordered by ``(time, seq)`` with a global ``seq``:
ties break first-in-first-out, and a run is a pure function of its inputs and the
``random.Random`` passed in (the only source of randomness).  With random
latencies, arrivals per (source, destination) pair and per event link are clamped
to be non-decreasing, as MQTT and ZeroMQ keep per-publisher order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kvs_sim.sim import lazy
from kvs_sim.sim.clients import ClientAPI
from kvs_sim.sim.events import emit
from kvs_sim.sim.routing import route
from kvs_sim.sim.state import BROKER, CLIENT, Callback, Tracer
from kvs_sim.sim.stats import Counters

__all__ = ["BROKER", "CLIENT", "Callback", "Engine", "Tracer"]


def _outside(what: str) -> RuntimeError:
    return RuntimeError(
        f"Engine.{what}() called outside a rank's handle(): ranks use the port only while "
        "handling a message (or in start()); client code uses request(), call_later(), spawn()"
    )


class Engine(ClientAPI, Counters):
    """Discrete-event engine for ranks on an :class:`Overlay`; implements ``Port``.

    ``Engine(overlay, *, links=None, rng, events="tree", broker_cost=2e-6,
    hop_cost=5e-6, client_latency=37.5e-6, forward_cost=0.0, tracer=None, lazy=True)``:
    ``links`` a :class:`~kvs_sim.sim.latency.LinkModel` (per-hop latency, per-link
    overrides, event loss); ``rng`` the run's only source of randomness; ``events``
    ``"tree"`` (forwarded hop by hop) or ``"broker"`` (one central broker spending
    ``broker_cost`` per copy); ``hop_cost`` what an intermediate rank spends routing
    a message; ``client_latency`` between a client and its rank; ``forward_cost``
    what a forwarding rank spends per event copy (:mod:`kvs_sim.sim.events`);
    ``lazy`` False delivers every event through the heap even where the engine
    could deliver it lazily (:mod:`kvs_sim.sim.lazy`; the results are the same).

    Ranks get the engine itself as their port (see the module docstring for time).

    ``tracer(time, src, dst, msg)``, if given, sees every arrival at a rank when it
    arrives (before any queueing): ``src`` is the sending rank, the parent for tree
    events, the rank itself for timers, :data:`CLIENT` for client requests and
    :data:`BROKER` for broker-mode events.  Replies reaching a client are traced
    with ``dst == CLIENT``.  A tracer must not call port methods.

    Counters (read them, do not write them; exact whenever no rank is being handled):
    ``deliveries``, ``events_processed``, ``events_lost``, ``replies_dropped``, and
    :meth:`busy_time`, :meth:`link_messages`, :meth:`queue_length`.
    """

    __slots__ = ()

    # ------------------------------------------------------------------ setup

    def attach(self, ranks: Sequence[Any]) -> None:
        """Give the engine its ranks: ``ranks[r].handle(msg)`` for every rank."""
        if len(ranks) != self._n:
            raise ValueError(f"attach() needs {self._n} ranks, got {len(ranks)}")
        self._ranks = ranks
        self._handlers = [rank.handle for rank in ranks]

    def start(self) -> None:
        """Call each rank's optional ``start()`` at the current time, in rank order."""
        if not self._handlers:
            raise RuntimeError("start() before attach(): the engine has no ranks")
        if self._started:
            raise RuntimeError("start() called twice")
        self._started = True
        for r, rank in enumerate(self._ranks):
            fn = getattr(rank, "start", None)
            if fn is not None:
                self._handle(r, _call, fn, self._now)
        lazy.setup(self)

    # ------------------------------------------------------------------ Port

    def now(self) -> float:
        """Virtual time; while a rank handles a message, the time it took it
        (declared work does not advance it)."""
        return self._now

    def work(self, seconds: float) -> None:
        if self._cur < 0 or not seconds >= 0:  # one test on the common path
            if self._cur < 0:
                raise _outside("work")
            raise ValueError(f"work() needs seconds >= 0, not {seconds!r}")
        self._work += seconds

    def send(self, dst: int, msg: Any) -> None:
        src = self._cur
        if src < 0:
            raise _outside("send")
        n = self._n
        if not 0 <= dst < n:
            raise ValueError(f"send() to rank {dst}: no such rank (size {n})")
        t = self._now + self._work
        if dst != src:
            t += route(self, src, dst)
            last = self._pair_last
            if last is not None:
                key = src * n + dst
                prev = last.get(key, 0.0)
                t = max(t, prev)
                last[key] = t
        self._push_msg(t, src, dst, msg)

    def publish(self, msg: Any) -> None:
        r = self._cur
        if r < 0:
            raise _outside("publish")
        t = self._now + self._work
        if self.on_publish is not None:
            self.on_publish(t, r, msg)
        if self._lz and r == 0:
            lazy.log_event(self, t, msg)
        emit(self, t, r, msg)

    def respond(self, msg: Any) -> None:
        r = self._cur
        if r < 0:
            raise _outside("respond")
        cid = msg.client
        entry = self._clients.get(cid)
        if entry is None:
            self.replies_dropped += 1
            return
        owner, on_reply = entry
        if owner != r:
            raise RuntimeError(f"rank {r} responded to client {cid}, which is attached to {owner}")
        if msg.final:
            del self._clients[cid]
        t = self._now + self._work + self._client_latency
        self._call(t, self._reply_arrives, r, on_reply, msg)

    def timer(self, delay: float, msg: Any) -> None:
        r = self._cur
        if r < 0:
            raise _outside("timer")
        if not delay >= 0:
            raise ValueError(f"timer() needs a delay >= 0, not {delay!r}")
        self._push_msg(self._now + self._work + delay, r, r, msg)


def _call(fn: Callable[[], Any]) -> None:
    fn()
