"""Lazy delivery of tree events to idle subtrees.

Theory of operation
-------------------
In a large cluster most deliveries are rank 0's next setroot reaching a rank where
nothing waits: the rank moves its root and spends ``service.setroot``.  Nothing
observes that rank until something else reaches it, so the engine need not hand
it each event in turn.  A rank is *lazy* when the engine delivers rank 0's tree
events to it in bulk, later; *eager* otherwise (the plain engine).

Which ranks.  A rank is *quiet* when its ``quiet()`` says it has nothing in flight
(no client waiting, no watch, no pending commit, lookup or load; see
``Follower.quiet``; a rank with ``quiet()`` also has ``digest`` and ``absorb``)
and the engine holds no queued message for it.  ``_lz_act[r]``
counts the ranks of ``r``'s subtree that are not quiet (checked after a rank
handles anything but a tree event while quiet).  When one of rank 0's events
reaches an eager rank ``c`` whose subtree is all quiet, the whole subtree turns
lazy (:func:`arrival`): its ranks take no more heap entries for events, and the
event is *recorded* once at ``c`` as ``(index, arrival time at c, msg)`` in
``_lz_rec[c]``.  Later events reaching ``c`` are recorded the same way; ``c`` is a
*top* (``_lz_tops``): a lazy rank with an eager parent.

Arrival times.  Only with one constant latency and no loss (so no random draw is
involved and each link keeps order): an event reaching ``r`` at ``t`` reaches its
``j``-th child at ``(t + (hop_cost + latency)) + j * forward_cost``, the very
expression the eager engine evaluates, so times are identical to the last bit.

Materialising.  ``_lz_pos[x]`` is the index (in rank 0's event log) of the first
event lazy rank ``x`` has not taken; -1 for an eager rank.  :func:`settle` walks
the lazy forest from every top and lets each rank take the events that have
reached it by a time ``T``: the deliveries, link and busy counters are added
event by event as the eager engine would (a busy rank takes the next event when
it is free), and the rank takes the run at once through ``absorb(digest(msgs),
room)`` (the state handling them one by one leaves), or one by one through its handler
(:mod:`kvs_sim.sim.settle`, which does it at a cost per rank, not per event).  The
engine settles at the end of every ``run``/``run_until_complete`` and before any
counter or rank is read, so everything observed is what eager delivery gives.
Exactly what it gives at ``T``: a rank takes only the events the eager engine has
let it take by then.  One still busy at ``T`` with events waiting (setroots that
cost more than the time between two of them, or a rank busy with other work when
they came) takes those it was free for and turns eager (:func:`activate`), the
rest in its queue with one heap entry for its turn (:func:`_hold`), as eager
delivery would have left it; so does a rank activated while busy.
:func:`activate` makes a lazy rank eager again the moment anything else reaches
it (a request, a timer, a reply, a queued message): its ancestors up to the
first eager one take their events up to now and turn eager, the events on their
way to them become heap entries at their arrival times, and the records move
down to their other children (which stay lazy).  Every event reaches every
rank exactly once: through a heap entry or through one record at a lazy ancestor.

Off.  Laziness needs the tree mode, a constant latency without loss, no tracer,
no fault injection, the inlined loop, and ``MIN_RANKS`` ranks or more.
:func:`off` (faults, ``slow_path``, ``step``) settles, turns every rank eager,
and keeps it so for the rest of the run.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import deque
from heapq import heappush
from typing import TYPE_CHECKING, Any

from kvs_sim.sim.settle import EMPTY, Run, collect, counters, take, walk

__all__ = ["activate", "arrival", "log_event", "note", "off", "settle", "setup"]

if TYPE_CHECKING:
    from kvs_sim.sim.state import EngineState

NEVER = 2
"""``_lz_flag`` of a rank that has no ``quiet()`` or whose ``quiet()`` said None:
never idle, never looked at again."""

MIN_RANKS = 64
"""Below this many ranks the engine stays eager: a settle at the end of every
``run``/``wait`` costs more than the few deliveries it saves (a flat directory
on 8 ranks, one ``wait`` per commit, ran 20% slower lazily)."""

RECORD_LIMIT = 4
"""Records held per rank before the engine settles on its own (at least 4,096):
bounds their memory and the length of the runs an activation moves down."""


def setup(eng: EngineState) -> None:
    """After ``start()``: enable laziness if the run allows it; mark non-quiet ranks."""
    eng._lz = False
    links = eng._links
    off_ = eng.events != "tree" or eng._fwd is None or links.loss or eng._tracer is not None
    if off_ or not eng._lz_want or eng._n < MIN_RANKS:
        return
    n = eng._n
    eng._lz_pos = [-1] * n
    eng._lz_act = array("i", bytes(4 * n))
    eng._lz_flag = bytearray(n)
    flag, act, parent, children = eng._lz_flag, eng._lz_act, eng._parent, eng._children
    for r in range(1, n):
        q = getattr(eng._ranks[r], "quiet", None)
        quiet = None if q is None else q()
        flag[r] = NEVER if quiet is None else 0 if quiet else 1
    if n > 1 and flag.count(NEVER) == n - 1:
        return  # no rank can ever be idle (toy ranks, a recorder): no look per delivery
    order = [0]  # parents before children
    for r in order:
        order.extend(children[r])
    for r in reversed(order[1:]):  # _lz_act: ranks not quiet in each subtree
        act[r] += flag[r] != 0
        if parent[r] > 0:
            act[parent[r]] += act[r]
    act[0] = 1  # rank 0 publishes: never lazy
    eng._lz = True
    eng._lz_span = _span(eng)
    eng._lz_depth = max(eng.overlay.depth, default=0) + 1


def _span(eng: EngineState) -> float:
    """An upper bound of an event's travel time from rank 0 to any rank."""
    fan = max((len(k) for k in eng._children), default=1)
    step = eng._fwd + max(fan - 1, 0) * eng._copy_cost  # type: ignore[operator]
    return (max(eng.overlay.depth, default=0) + 1) * step * 1.001 + 1e-9


def note(eng: EngineState, r: int) -> None:
    """Look again whether rank ``r`` (eager, not 0) is quiet; keep ``_lz_act`` up.
    A rank without ``quiet()``, or whose ``quiet()`` says None, is never idle."""
    flag = eng._lz_flag[r]
    if flag == NEVER:
        return
    quiet = eng._ranks[r].quiet()
    active = 0 if quiet and eng._pending[r] is None else 1
    if active != flag:
        d = 1 if active else -1
        act, parent, y = eng._lz_act, eng._parent, r
        while y > 0:
            act[y] += d
            y = parent[y]
    eng._lz_flag[r] = NEVER if quiet is None else active


def log_event(eng: EngineState, t: float, msg: Any) -> None:
    """Rank 0 published ``msg`` at ``t``: give it the next index."""
    ix = eng._lz_ix
    if id(msg) in ix:  # the same object published twice: indices would be ambiguous
        off(eng)
        return
    ix[id(msg)] = eng._lz_next
    eng._lz_next += 1
    eng._lz_log.append((t, msg))


def arrival(eng: EngineState, t: float, c: int, msg: Any) -> bool:
    """Tree event ``msg`` reaches rank ``c`` (lazy, or eager with a quiet subtree)
    at ``t``.  True if it was recorded (the caller neither forwards nor delivers it)."""
    i = eng._lz_ix.get(id(msg))
    pos = eng._lz_pos
    p = pos[c]
    if i is None or (p >= 0 and i < p):  # an event from before c turned lazy
        return False
    if p < 0:  # eager, subtree quiet: the subtree turns lazy from event i on
        stack, children, tops = [c], eng._children, eng._lz_tops
        while stack:
            y = stack.pop()
            if pos[y] >= 0:
                tops.discard(y)  # an older top: its parent turns lazy
                continue
            pos[y] = i
            stack.extend(children[y])
        tops.add(c)
    run = eng._lz_rec.get(c)
    if run is None:
        eng._lz_rec[c] = Run([i], [t], [msg])
    else:
        run.ids.append(i)
        run.ts.append(t)
        run.ms.append(msg)
    eng._lz_due = min(eng._lz_due, t)
    eng._lz_size += 1
    if eng._lz_size > RECORD_LIMIT * eng._n + 4096:
        now = eng._now
        settle(eng, t)
        eng._now = now
    return True


def settle(eng: EngineState, until: float) -> float:
    """Every lazy rank takes the events that reached it by ``until``, as the eager
    engine has by then; returns the latest time one was taken (-inf if none).  A
    rank still busy at ``until`` with some of them not taken turns eager, those
    waiting in its queue (:func:`activate`); the others stay lazy."""
    if not eng._lz or until < eng._lz_due:  # nothing reached a lazy rank yet
        return -float("inf")
    now = eng._now
    latest, due = walk(eng, until)
    held, pos = eng._lz_held, eng._lz_pos
    for x in held:
        if pos[x] >= 0:
            activate(eng, x, until)
    held.clear()
    eng._now = now
    eng._lz_sums.clear()
    collect(eng, until)
    eng._lz_due = due
    return latest


def _down(eng: EngineState, x: int, k: int, run: Run) -> Run:
    """``run`` (at ``x``) as it reaches ``x``'s child ``k``."""
    copy = eng._copy_cost
    off = eng._children[x].index(k) * copy if copy else 0.0
    return run.shift(eng._fwd, off)  # type: ignore[arg-type]


def activate(eng: EngineState, x: int, t: float) -> None:
    """Lazy rank ``x`` is reached by something else at ``t``: it and its lazy
    ancestors take their events up to ``t`` and turn eager."""
    pos, parent, rec = eng._lz_pos, eng._parent, eng._lz_rec
    path = []
    y = x
    while y > 0 and pos[y] >= 0:
        path.append(y)
        y = parent[y]
    path.reverse()
    eng._lz_tops.discard(path[0])
    now = eng._now
    run = rec.pop(path[0], EMPTY)
    for j, a in enumerate(path):
        n = len(run.ids)
        came = run.cut(t)
        first = bisect_left(run.ids, pos[a], 0, came)
        wait = False
        if first < came:
            k = take(eng, a, run.part(first, came), t)[1]
            if first + k < came:  # still busy at t: the rest wait in its queue
                _hold(eng, a, run.part(first + k, came))
                wait = True
        _to_heap(eng, a, run.part(came, n))
        pos[a] = -1
        if wait:
            note(eng, a)  # a rank with a queue is not quiet
        run = run.part(0, came)
        nxt = path[j + 1] if j + 1 < len(path) else -1
        below = run
        for k in eng._children[a]:
            down = _down(eng, a, k, below)
            if k == nxt:
                run = down.merge(rec.pop(k, None)).own()
            elif pos[k] >= 0:
                if down.ids:
                    rec[k] = down.merge(rec.get(k)).own()
                    eng._lz_size += len(down.ids)
                    eng._lz_due = min(eng._lz_due, down.ts[0])
                eng._lz_tops.add(k)
    eng._now = now


def _hold(eng: EngineState, a: int, run: Run) -> None:
    """Events that reached ``a`` (turning eager) while it was busy wait in its queue
    as the eager engine keeps them: counted as arrived, taken when it is free."""
    assert eng._pending[a] is None
    counters(eng, a, len(run.ids))
    eng._pending[a] = deque(run.ms)
    heappush(eng._heap, (eng._busy[a], eng._next(), 3 * eng._n + a, None))


def _to_heap(eng: EngineState, a: int, run: Run) -> None:
    """Events on their way to ``a`` (now eager) become tree-event heap entries."""
    code = eng._n + a
    for t, m in zip(run.ts, run.ms, strict=True):
        eng._push_msg(t, 0, code, m)


def off(eng: EngineState) -> None:
    """Settle up to now and turn every rank eager for the rest of the run."""
    if not eng._lz:
        return
    settle(eng, eng._now)
    for top in list(eng._lz_tops):
        if eng._lz_pos[top] >= 0:
            _eager_subtree(eng, top)
    eng._lz = False
    eng._lz_rec.clear()
    eng._lz_tops.clear()
    eng._lz_ix.clear()
    eng._lz_log.clear()


def _eager_subtree(eng: EngineState, top: int) -> None:
    """Everything under ``top`` turns eager; events in flight become heap entries."""
    pos, rec, t = eng._lz_pos, eng._lz_rec, eng._now
    stack = [(top, rec.get(top, EMPTY))]
    while stack:
        x, run = stack.pop()
        came = run.cut(t)
        _to_heap(eng, x, run.part(came, len(run.ids)))
        pos[x] = -1
        run = run.part(0, came)
        for k in eng._children[x]:
            stack.append((k, _down(eng, x, k, run).merge(rec.get(k))))
