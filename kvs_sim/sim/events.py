"""Event fan-out: how one published event reaches every rank, in tree or broker mode.

Theory of operation
-------------------
Functions of the engine state (:class:`~kvs_sim.sim.state.EngineState`) they take
as first argument: they hold no state (everything lives in its slots and is set in
its ``__init__``) and decide nothing about a rank.  A rank calls
``Engine.publish``; the engine stamps the event with the time it leaves and calls
:func:`emit`, which picks one of three routes.

Tree mode, published by rank 0 (the common case, Flux's ``kvs.setroot``).
:func:`fanout` sends the event from a rank to its children; each copy arrives
``hop_cost + link latency`` later (``hop`` is 0 at the publisher itself).  Every
rank forwards an event to its children when it arrives, busy or not: Flux brokers
forward events in the overlay, not in the KVS module.  Three cases, fastest first:

* one fixed latency, no loss, no ``forward_cost``: one heap entry with code
  ``2n + r`` stands for the copies to *every* child of ``r`` (they arrive
  together), counted once in ``_ev_fwd[r]``;
* one random latency model on every link, no loss: one entry per child with code
  ``n + c``, the sampling inlined;
* anything else (loss, per-link overrides, a ``forward_cost``): sample each link,
  drop lost copies (counted in ``events_lost`` and still on the link), push code
  ``n + c``.

``forward_cost`` (``Engine(forward_cost=...)``, 0 by default) is what a forwarding
rank's broker spends per copy: the i-th child's copy leaves ``i * forward_cost``
after the first, so a wide fan-out (Flux's 32-ary tree) serialises at each inner
rank as it does at the central broker in broker mode.

The engine's hot loop (:func:`kvs_sim.sim.loop.fast_loop`) inlines what happens
when those entries come off the heap (forward again, then deliver like a
message); the plain path (:func:`kvs_sim.sim.loop.step_entry`) does the same by
calling :func:`fanout`.

Tree mode, published by another rank.  Flux sequences events at rank 0, so the
event first travels up to rank 0 like a message (links counted, hop costs paid),
then down to every rank except its publisher.  The heap codes above cannot say
who the publisher was, so these copies travel as callbacks to
:func:`foreign_event` carrying it: the publisher forwards the event to its own
children but does not take it again.

Broker mode.  One hop to a central broker (:data:`BROKER`), a single server that
spends ``broker_cost`` per outgoing copy (and is busy until ``_broker_free``),
then one hop to every rank but the publisher, arriving as a plain message with
source :data:`BROKER` (:func:`broker_fanout`).

Order.  MQTT and ZeroMQ keep per-publisher order, so with random latencies every
link's arrivals are clamped to be non-decreasing: tree links in ``_ev_last``
(by child), broker links in ``_bk_last`` (publisher ``r`` -> broker at slot ``r``,
broker -> rank ``d`` at slot ``n + d``, see :func:`_ordered`), and a non-root
publisher's trip up to rank 0 in ``_pair_last`` under key ``-1 - r`` (apart from
its point-to-point sends).  With a constant latency these are None: order holds by
itself.  Only events can be lost (``LinkModel.loss``).
"""

from __future__ import annotations

from heapq import heappush
from typing import Any

from kvs_sim.sim.routing import route
from kvs_sim.sim.state import BROKER, EngineState

__all__ = ["BROKER", "broker_fanout", "emit", "fanout", "foreign_event"]


def emit(eng: EngineState, t: float, r: int, msg: Any) -> None:
    """Rank ``r`` published ``msg``, which leaves it at ``t``: start its journey."""
    if eng.events == "broker":
        eng._to_broker[r] += 1
        t = _ordered(eng, r, t + eng._links.sample(r, BROKER, eng._rng))
        eng._call(t, broker_fanout, eng, r, msg)
    elif r == 0:
        fanout(eng, t, 0.0, 0, msg, None)
    else:
        t += route(eng, r, 0)
        if eng._pair_last is not None:  # key -1-r: r's events to rank 0, apart from sends
            t = max(t, eng._pair_last.get(-1 - r, 0.0))
            eng._pair_last[-1 - r] = t
        child_of_0 = eng.overlay.legs(r, 0)[0][-1]
        eng._call(t, foreign_event, eng, 0, child_of_0, msg, r)


def fanout(  # noqa: PLR0917 (positional arguments: the hot loop calls it)
    eng: EngineState, t: float, hop: float, r: int, msg: Any, exclude: int | None
) -> None:
    """Send event ``msg`` from ``r`` to its children: each arrives at ``t + (hop +
    link latency)`` (grouped like the hot loop's ``t + fwd``, so both agree exactly).

    ``exclude`` is None for rank 0's events (tree-event heap entries); else the
    publisher of a forwarded event, which travels as callbacks."""
    kids = eng._children[r]
    if not kids:
        return
    down, n = eng._down, eng._n
    const, loss, copy = eng._const, eng._links.loss, eng._copy_cost
    if exclude is None and not loss and not copy:
        if const is not None:  # one entry for all kids
            eng._ev_fwd[r] += 1
            heappush(eng._heap, (t + (hop + const), eng._next(), 2 * n + r, msg))
            return
        smp = eng._sample
        if smp is not None:  # one random model for every link: the general case, inlined
            heap, nxt, rng, last = eng._heap, eng._next, eng._rng, eng._ev_last
            assert last is not None
            for c in kids:
                down[c] += 1
                ta = t + (hop + smp(rng))
                prev = last[c]
                if ta < prev:  # noqa: PLR1730 (faster than max() here)
                    ta = prev
                last[c] = ta
                heappush(heap, (ta, nxt(), c + n, msg))
            return
    last = eng._ev_last
    for i, c in enumerate(kids):
        down[c] += 1
        if loss and eng._rng.random() < loss:
            eng.events_lost += 1
            continue
        ta = t + (hop + (const if const is not None else eng._links.sample(r, c, eng._rng)))
        if copy:
            ta += i * copy
        if last is not None:
            ta = max(ta, last[c])
            last[c] = ta
        if exclude is None:
            heappush(eng._heap, (ta, eng._next(), c + n, msg))
        else:
            eng._call(ta, foreign_event, eng, c, r, msg, exclude)


def foreign_event(eng: EngineState, r: int, src: int, msg: Any, publisher: int) -> None:
    """Tree mode: an event published by a rank other than 0 arrives at ``r``."""
    t = eng._now
    fanout(eng, t, eng._hop_cost, r, msg, publisher)
    if r != publisher:
        eng._arrive(t, src, r, msg)


def _ordered(eng: EngineState, slot: int, t: float) -> float:
    """Broker mode: ``t``, or later if an earlier copy on link ``slot`` arrives later."""
    last = eng._bk_last
    if last is None:
        return t
    t = max(t, last[slot])
    last[slot] = t
    return t


def broker_fanout(eng: EngineState, src: int, msg: Any) -> None:
    """Broker mode: the broker got ``msg`` from ``src``; serve one copy per rank."""
    n, links, rng, loss = eng._n, eng._links, eng._rng, eng._links.loss
    const = eng._const
    out = eng._from_broker
    t = max(eng._now, eng._broker_free)
    cost = eng._broker_cost
    for dst in range(n):
        if dst == src:
            continue
        t += cost
        out[dst] += 1
        if loss and rng.random() < loss:
            eng.events_lost += 1
            continue
        ta = t + (const if const is not None else links.sample(BROKER, dst, rng))
        eng._push_msg(_ordered(eng, n + dst, ta), BROKER, dst, msg)
    eng._broker_free = t
