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
``Follower.quiet``) and the engine holds no queued message for it.  ``_lz_act[r]``
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
it is free), and the rank takes the run at once through ``absorb(msgs)`` (the
state handling them one by one leaves), or one by one through its handler.  The
engine settles at the end of every ``run``/``run_until_complete`` and before any
counter is read, so everything observed outside a run is what eager delivery
gives.  :func:`activate` makes a lazy rank eager again the moment anything else
reaches it (a request, a timer, a reply, a queued message): its ancestors up to
the first eager one take their events up to now and turn eager, the events on
their way to them become heap entries at their arrival times, and the records
move down to their other children (which stay lazy).  Every event reaches every
rank exactly once: through a heap entry or through one record at a lazy ancestor.

Off.  Laziness needs the tree mode, a constant latency without loss, no tracer,
no fault injection, and the inlined loop; :func:`off` (faults, ``slow_path``,
``step``) settles, turns every rank eager, and keeps it so for the rest of the run.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvs_sim.sim.state import EngineState

NEVER = 2
"""``_lz_flag`` of a rank that has no ``quiet()``: never idle, never looked at."""

RECORD_LIMIT = 1 << 17
"""Records held before the engine settles on its own (bounds their memory)."""


def setup(eng: EngineState) -> None:
    """After ``start()``: enable laziness if the run allows it; mark non-quiet ranks."""
    eng._lz = False
    links = eng._links
    off_ = eng.events != "tree" or eng._fwd is None or links.loss or eng._tracer is not None
    if off_ or not eng._lz_want:
        return
    n = eng._n
    eng._lz_pos = [-1] * n
    eng._lz_act = array("i", bytes(4 * n))
    eng._lz_flag = bytearray(n)
    ranks = eng._ranks
    if not any(hasattr(ranks[r], "quiet") for r in range(1, n)):
        return  # no rank can be idle (toy ranks): not worth a look per delivery
    eng._lz_act[0] = 1  # rank 0 publishes: never lazy
    eng._lz = True
    for r in range(1, n):
        if getattr(ranks[r], "quiet", None) is None:
            note(eng, r)
            eng._lz_flag[r] = NEVER
        elif not ranks[r].quiet():
            note(eng, r)
    eng._lz_span = _span(eng)


def _span(eng: EngineState) -> float:
    """An upper bound of an event's travel time from rank 0 to any rank."""
    fan = max((len(k) for k in eng._children), default=1)
    step = eng._fwd + max(fan - 1, 0) * eng._copy_cost  # type: ignore[operator]
    return (max(eng.overlay.depth, default=0) + 1) * step * 1.001 + 1e-9


def note(eng: EngineState, r: int) -> None:
    """Look again whether rank ``r`` (eager, not 0) is quiet; keep ``_lz_act`` up."""
    if eng._lz_flag[r] == NEVER:
        return
    active = 1 if (eng._pending[r] is not None or not eng._ranks[r].quiet()) else 0
    if active != eng._lz_flag[r]:
        eng._lz_flag[r] = active
        d = 1 if active else -1
        act, parent = eng._lz_act, eng._parent
        while r > 0:
            act[r] += d
            r = parent[r]


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
    eng._lz_rec.setdefault(c, []).append((i, t, msg))
    eng._lz_dirty = True
    eng._lz_size += 1
    if eng._lz_size > RECORD_LIMIT:
        now = eng._now
        settle(eng, t)
        eng._now = now
    return True


def _shift(eng: EngineState, x: int, k: int, evs: list[Any]) -> list[Any]:
    """Records at ``x`` as they reach its child ``k``, exactly as ``fanout`` adds."""
    fwd = eng._fwd
    copy = eng._copy_cost
    off = eng._children[x].index(k) * copy if copy else 0.0
    if off:
        return [(i, (t + fwd) + off, m) for i, t, m in evs]
    return [(i, t + fwd, m) for i, t, m in evs]


def _merge(a: list[Any], b: list[Any] | None) -> list[Any]:
    if not b:
        return a
    return sorted(a + b) if a else list(b)


def _take(eng: EngineState, x: int, evs: list[Any]) -> float:
    """Lazy rank ``x`` takes ``evs`` (arrived by now, in order); returns the time it
    took the last one.  Counters as the eager engine keeps them."""
    k = len(evs)
    eng.deliveries += k
    kids = eng._children[x]
    if kids:
        if eng._copy_cost:
            down = eng._down
            for c in kids:
                down[c] += k
        else:
            eng._ev_fwd[x] += k
    busy, busy_time = eng._busy, eng._busy_time
    b, bt = busy[x], busy_time[x]
    h = b
    w = eng._ranks[x].absorb([e[2] for e in evs])
    if w is not None:
        for _, t, _ in evs:
            h = t if t >= b else b
            if w:
                b = h + w
                bt += w
    else:
        handler = eng._handlers[x]
        for _, t, m in evs:
            h = t if t >= b else b
            eng._cur, eng._now, eng._work = x, h, 0.0
            try:
                handler(m)
            finally:
                eng._cur = -1
            w = eng._work
            if w:
                b = h + w
                bt += w
    busy[x], busy_time[x] = b, bt
    eng._lz_pos[x] = evs[-1][0] + 1
    return h


def settle(eng: EngineState, until: float) -> float:
    """Every lazy rank takes the events that reached it by ``until``; returns the
    latest time one was taken (-inf if none).  Ranks stay lazy."""
    if not eng._lz or not eng._lz_dirty:
        return -float("inf")
    now, latest, left = eng._now, -float("inf"), False
    pos, rec, children = eng._lz_pos, eng._lz_rec, eng._children
    for top in list(eng._lz_tops):
        stack = [(top, rec.get(top, []))]
        while stack:
            x, evs = stack.pop()
            p = pos[x]
            if evs and evs[-1][1] > until:
                left = True
                evs = [e for e in evs if e[1] <= until]
            todo = [e for e in evs if e[0] >= p] if evs and evs[0][0] < p else evs
            if todo:
                h = _take(eng, x, todo)
                latest = max(latest, h)
            for k in children[x]:
                stack.append((k, _merge(_shift(eng, x, k, evs), rec.get(k))))
    eng._now = now
    _collect(eng, until)
    eng._lz_dirty = left
    return latest


def _collect(eng: EngineState, until: float) -> None:
    """Forget records and log entries every rank has taken by ``until``."""
    horizon = until - eng._lz_span
    rec = eng._lz_rec
    for a in list(rec):
        kept = [e for e in rec[a] if e[1] >= horizon]
        if kept:
            rec[a] = kept
        else:
            del rec[a]
    eng._lz_size = sum(len(v) for v in rec.values())
    log, ix = eng._lz_log, eng._lz_ix
    while log and log[0][0] < horizon:
        del ix[id(log.popleft()[1])]
        eng._lz_lo += 1


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
    evs: list[Any] = rec.pop(path[0], [])
    for j, a in enumerate(path):
        p = pos[a]
        came = [e for e in evs if e[1] <= t]
        todo = [e for e in came if e[0] >= p]
        if todo:
            _take(eng, a, todo)
        _to_heap(eng, a, evs[len(came) :])
        pos[a] = -1
        nxt = path[j + 1] if j + 1 < len(path) else -1
        for k in eng._children[a]:
            down = _shift(eng, a, k, came)
            if k == nxt:
                evs = _merge(down, rec.pop(k, None))
            elif pos[k] >= 0:
                if down:
                    rec[k] = _merge(down, rec.get(k))
                eng._lz_tops.add(k)
    eng._now = now
    eng._lz_dirty = True


def _to_heap(eng: EngineState, a: int, evs: list[Any]) -> None:
    """Events on their way to ``a`` (now eager) become tree-event heap entries."""
    n = eng._n
    for _, t, m in evs:
        eng._push_msg(t, 0, n + a, m)


def off(eng: EngineState) -> None:
    """Settle up to now and turn every rank eager for the rest of the run."""
    if not eng._lz:
        return
    settle(eng, eng._now)
    eng._lz_dirty = True
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
    stack = [(top, rec.get(top, []))]
    while stack:
        x, evs = stack.pop()
        came = [e for e in evs if e[1] <= t]
        _to_heap(eng, x, evs[len(came) :])
        pos[x] = -1
        for k in eng._children[x]:
            stack.append((k, _merge(_shift(eng, x, k, came), rec.get(k))))
