"""Point-to-point routing on the overlay, and the count of messages per link.

Theory of operation
-------------------
A message from one rank to another follows the unique tree path: up from the
source to the lowest common ancestor, then down (:meth:`Overlay.legs`).  Its
arrival is computed once, at send time, as a single heap entry: the per-hop
latencies plus ``hop_cost`` per intermediate rank (intermediate ranks route, they
do not queue).  With random latencies, arrivals per (source, destination) pair are
clamped to be non-decreasing (``Engine.send``): MQTT and ZeroMQ keep per-publisher
order, so the simulator does too.

Every crossed link is counted, by child: ``_up[c]`` for messages from ``c`` to its
parent, ``_down[c]`` for messages from the parent to ``c``.  Events add their own
counts (:mod:`kvs_sim.sim.events`): ``_ev_fwd[p]`` for one fixed-latency copy from
``p`` to *each* of its children, and ``_to_broker`` / ``_from_broker`` in broker
mode.  :func:`link_messages` folds them into one table per directed link.
"""

from __future__ import annotations

from kvs_sim.sim.state import BROKER, EngineState


def route(eng: EngineState, src: int, dst: int) -> float:
    """Count the links from ``src`` to ``dst`` and return the travel time."""
    ups, downs = eng.overlay.legs(src, dst)
    up, down, parent = eng._up, eng._down, eng._parent
    for c in ups:
        up[c] += 1
    for c in downs:
        down[c] += 1
    hops = len(ups) + len(downs)
    delay = (hops - 1) * eng._hop_cost
    if eng._const is not None:
        return delay + hops * eng._const
    sample, rng = eng._links.sample, eng._rng
    for c in ups:
        delay += sample(c, parent[c], rng)
    for c in downs:
        delay += sample(parent[c], c, rng)
    return delay


def link_messages(eng: EngineState) -> dict[tuple[int, int], int]:
    """Messages (sends and events, lost ones included) per directed link ``(a, b)``
    that carried any; broker links use :data:`BROKER` as an end."""
    out: dict[tuple[int, int], int] = {}
    parent, up, down, ev_fwd = eng._parent, eng._up, eng._down, eng._ev_fwd
    for c in range(1, eng._n):
        p = parent[c]
        if up[c]:
            out[(c, p)] = up[c]
        count = down[c] + ev_fwd[p]
        if count:
            out[(p, c)] = count
    to_broker, from_broker = eng._to_broker, eng._from_broker
    for r in range(len(to_broker)):
        if to_broker[r]:
            out[(r, BROKER)] = to_broker[r]
        if from_broker[r]:
            out[(BROKER, r)] = from_broker[r]
    return out
