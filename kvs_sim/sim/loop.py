"""The engine's two loops over the heap: the inlined hot loop and the plain path.

Theory of operation
-------------------
Both loops pop ``(time, seq, code, msg)`` entries (codes: :mod:`kvs_sim.sim.state`)
until the heap is empty, the next entry is later than ``lim``, or a future that
``run_until_complete`` waits for is done (``_stop``, looked at after each entry of
code ``>= 3n``: client code and ranks taking queued messages, the only places a
future can complete).  They differ in how they process an entry:

* :func:`fast_loop` inlines message and tree-event arrivals with everything bound
  to locals: no method call between popping an entry and calling the rank's
  handler.  It is what runs by default, and most of a simulation's wall time is
  spent in it.  It is also where lazy delivery (:mod:`kvs_sim.sim.lazy`) hooks
  in: a tree event reaching a lazy rank, or an eager one whose subtree is idle,
  is recorded instead of delivered; a message reaching a lazy rank wakes it
  first; a rank that handled anything but a tree event (or was not idle) is
  looked at again.  The plain path never sees a lazy rank: switching to it
  turns laziness off.
* :func:`plain_loop` hands every entry to :func:`step_entry`, which goes through the
  plain methods (``EngineState._arrive``, ``_handle``, ``_enqueue``, ``_slow``) and
  :func:`kvs_sim.sim.events.fanout`.  ``Engine.step`` processes one entry the same
  way.

The two give the same trace (the tests check it).  ``Engine.slow_path = True``
switches a run to the plain path: that is where per-delivery hooks belong (fault
injection: partitions, crashed or paused ranks), so they cost nothing while no
fault is active.  The switch is noticed at the same points as ``_stop`` (after
client code, e.g. the callback that starts or heals a fault), and both loops hand
over to each other there (:meth:`~kvs_sim.sim.clients.ClientAPI._drive`).  What
the fast loop also runs, and so every hook placed there costs on every run: the
rank handlers and the ``Port`` methods they call (``Engine.send``, ``publish``,
...), ``_enqueue``, and ``_slow`` (a rank's turn, client code).
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

from kvs_sim.sim import lazy
from kvs_sim.sim.events import fanout
from kvs_sim.sim.state import CLIENT, EngineState


def step_entry(eng: EngineState, t: float, seq: int, code: int, msg: Any) -> None:
    """Process one popped heap entry through the plain methods."""
    eng.events_processed += 1
    n = eng._n
    gate = eng._gate  # fault injection (kvs_sim.sim.faults), None when no fault is active
    if code < n:
        src = eng._srcs.pop(seq, CLIENT)
        if gate is None or gate(t, seq, code, code, msg):
            eng._arrive(t, src, code, msg)
    elif code < 2 * n:
        r = code - n
        if gate is None or gate(t, seq, code, r, msg):
            fanout(eng, t, eng._hop_cost, r, msg, None)
            eng._arrive(t, eng._parent[r], r, msg)
    elif code < 3 * n:
        r = code - 2 * n
        for c in eng._children[r]:
            if gate is None or gate(t, seq, n + c, c, msg):
                fanout(eng, t, eng._hop_cost, c, msg, None)
                eng._arrive(t, r, c, msg)
    else:
        eng._slow(t, code, msg)


def plain_loop(eng: EngineState, lim: float) -> bool:
    """Process entries up to ``lim`` through :func:`step_entry`.  True if it stopped
    because ``slow_path`` was turned off (the caller goes on with :func:`fast_loop`)."""
    heap = eng._heap
    n3 = 3 * eng._n
    while heap:
        t, seq, code, msg = heappop(heap)
        if t > lim:
            heappush(heap, (t, seq, code, msg))
            break
        step_entry(eng, t, seq, code, msg)
        if code >= n3:
            if eng._stop:
                break
            if not eng._plain:
                return True
    return False


def fast_loop(eng: EngineState, lim: float) -> bool:
    """Process entries up to ``lim``, arrivals inlined.  True if it stopped because
    ``slow_path`` was turned on (the caller goes on with :func:`plain_loop`)."""
    heap = eng._heap
    pop = heappop
    push = heappush
    nxt = eng._next
    n = eng._n
    n2 = n + n
    n3 = n2 + n
    busy = eng._busy
    busy_time = eng._busy_time
    pending = eng._pending
    handlers = eng._handlers
    children = eng._children
    parent = eng._parent
    evf = eng._ev_fwd
    tracer = eng._tracer
    srcs = eng._srcs
    fwd = eng._fwd
    hop = eng._hop_cost
    forward = fanout
    enqueue = eng._enqueue
    slow = eng._slow
    lz = eng._lz  # lazy delivery to idle subtrees (kvs_sim.sim.lazy)
    lzpos, lzact, lzflag = (eng._lz_pos, eng._lz_act, eng._lz_flag) if lz else ([], [], b"")
    lazy_arrival, activate, note = lazy.arrival, lazy.activate, lazy.note
    deliv = nev = 0
    try:
        while heap:
            t, seq, r, msg = pop(heap)
            if t > lim:
                push(heap, (t, seq, r, msg))
                break
            nev += 1
            if r < n:  # a message arrives at r
                deliv += 1
                if tracer is not None:
                    tracer(t, srcs.pop(seq, CLIENT), r, msg)
                look = True  # is r still quiet after it? (see below)
                if lz and r and lzpos[r] >= 0:
                    activate(eng, r, t)
            elif r >= n2:
                if r >= n3:  # a rank is free again, or client code
                    eng.deliveries += deliv
                    eng.events_processed += nev
                    deliv = nev = 0
                    slow(t, r, msg)
                    if eng._stop:
                        break
                    if eng._plain:
                        return True
                    if lz and not eng._lz:
                        lz = False
                    continue
                # An event reaches every child of r at once: each forwards it to
                # its own children (one heap entry per forwarding rank), then
                # takes it like any message.  A child whose subtree is idle
                # records it instead (lazy.arrival).
                r -= n2
                ta = t + fwd  # type: ignore[operator]
                eng._now = t  # the same instant for every child
                for c in children[r]:
                    if lz and (lzpos[c] >= 0 or not lzact[c]) and lazy_arrival(eng, t, c, msg):
                        continue
                    if children[c]:
                        evf[c] += 1
                        push(heap, (ta, nxt(), c + n2, msg))
                    deliv += 1
                    if tracer is not None:
                        tracer(t, r, c, msg)
                    if busy[c] <= t and pending[c] is None:
                        eng._cur = c
                        eng._work = 0.0
                        handlers[c](msg)
                        w = eng._work
                        if w:
                            busy[c] = t + w
                            busy_time[c] += w
                    else:
                        enqueue(t, c, msg)
                    if lz and lzflag[c] == 1:
                        note(eng, c)
                continue
            else:  # an event reaches r (random latency or loss): forward it
                r -= n
                if lz and (lzpos[r] >= 0 or not lzact[r]) and lazy_arrival(eng, t, r, msg):
                    continue
                look = False
                if children[r]:
                    forward(eng, t, hop, r, msg, None)
                deliv += 1
                if tracer is not None:
                    tracer(t, parent[r], r, msg)
            if busy[r] <= t and pending[r] is None:
                eng._cur = r
                eng._now = t
                eng._work = 0.0
                handlers[r](msg)
                w = eng._work
                if w:
                    busy[r] = t + w
                    busy_time[r] += w
            else:
                enqueue(t, r, msg)
            # Quiet ranks stay quiet through tree events; anything else, and any
            # rank that was not quiet, is looked at again.
            if lz and r and (look or lzflag[r] == 1):
                note(eng, r)
    finally:
        eng._cur = -1
        eng.deliveries += deliv
        eng.events_processed += nev
    return False
