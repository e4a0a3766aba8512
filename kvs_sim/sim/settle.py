"""How lazy ranks take the tree events recorded for them (:mod:`kvs_sim.sim.lazy`).

Theory of operation
-------------------
A *run* (:class:`Run`) is the events, in index order, on their way to one rank:
indices, arrival times, messages.  :func:`walk` walks the lazy forest from
every top and lets each rank take what has reached it by a time ``until``
(:func:`take`): deliveries, link and busy counters event by event as the eager
engine keeps them, and the rank's state through its ``absorb(digest(msgs),
room)`` (the state handling them one by one leaves) when each came after it was
done with the previous one (each costs less than ``room``, :func:`room`), or
else through its handler one by one, a busy rank taking the next when it is
free, up to the first it would take after ``until``: a rank still busy then
keeps the rest (``_lz_held``; :func:`kvs_sim.sim.lazy.settle` turns it eager
with them queued).

Per rank, not per event.  The run reaching a child is the parent's with every
time shifted by the same additions ``fanout`` makes, ``(t + fwd) + j * copy``.
Writing those lists out costs each rank as much as its events; instead
:func:`_walk` carries, for the common case (a subtree taking the same slice of
its top's record, with no records further down), the top's lists, the tuple of
additions from the top (``adds``) and the exact times of the slice's first and
last events, each derived from the parent's by the same additions.  The rest
needs no exact time: whether each event came after the rank was done with the
previous one (``t[i+1] >= t[i] + w``) is decided once per slice from the top's
times, with a margin that bounds the rounding of every addition on the way down
(the ``margin`` of :func:`_walk`), and the rank's ``absorb`` told that bound.
A rank that declines, or was busy when the first came, takes its run written
out (``_times``) one by one; a rank whose events have not all come, or that
holds records of its own, settles its subtree the general way
(:func:`_walk_runs`, every run written out).
The digest of a slice (what its events leave) is computed once for the whole
subtree.  The results are those of writing every list out, to the last bit.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from itertools import accumulate, repeat
from operator import sub
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvs_sim.sim.state import EngineState


class Run:
    """Events in index order as they reach one rank: indices, arrival times (never
    decreasing: each link keeps order), messages; three lists, so that shifting
    and slicing a run allocates no tuples."""

    __slots__ = ("ids", "ms", "ts")

    def __init__(self, ids: list[int], ts: list[float], ms: list[Any]) -> None:
        self.ids, self.ts, self.ms = ids, ts, ms

    def cut(self, until: float) -> int:
        """How many arrived by ``until``."""
        return bisect_right(self.ts, until)

    def part(self, a: int, b: int) -> Run:
        return Run(self.ids[a:b], self.ts[a:b], self.ms[a:b])

    def shift(self, fwd: float, off: float) -> Run:
        """The run as it reaches a child, exactly as ``fanout`` adds: ``(t + fwd) +
        off`` (sharing the index and message lists: :meth:`own` before appending)."""
        ts = [(t + fwd) + off for t in self.ts] if off else [t + fwd for t in self.ts]
        return Run(self.ids, ts, self.ms)

    def own(self) -> Run:
        return Run(list(self.ids), list(self.ts), list(self.ms))

    def merge(self, other: Run | None) -> Run:
        """Both runs in one (their indices are disjoint; usually one precedes)."""
        if not other or not other.ids:
            return self
        a, b = self, other
        if not a.ids:
            return Run(list(b.ids), list(b.ts), list(b.ms))
        if b.ids[-1] < a.ids[0]:
            a, b = b, a
        if a.ids[-1] < b.ids[0]:
            return Run(a.ids + b.ids, a.ts + b.ts, a.ms + b.ms)
        ms = a.ms + b.ms
        rows = sorted(zip(a.ids + b.ids, a.ts + b.ts, range(len(ms)), strict=True))
        return Run([r[0] for r in rows], [r[1] for r in rows], [ms[r[2]] for r in rows])


EMPTY = Run([], [], [])


def room(ts: list[float], busy: float) -> float:
    """The service time per event under which a rank free at ``busy`` takes each of
    ``ts`` (written out) at its arrival: less than every gap, by a margin for the
    rounding of ``t + w``; -1 if the first one finds it still busy."""
    if ts[0] < busy:
        return -1.0
    gap = min(map(sub, ts[1:], ts[:-1]), default=float("inf"))
    return gap - 16 * 2.0**-52 * max(1.0, abs(ts[-1]))


def take(eng: EngineState, x: int, run: Run, until: float) -> tuple[float, int]:
    """Lazy rank ``x`` takes ``run`` (arrived by ``until``), as the eager engine
    would have by ``until``: the time it took the last one and how many it took.
    At once (``absorb``) if each comes after it is done with the previous one;
    otherwise one by one through its handler, stopping at the first it would take
    after ``until`` (it is still busy then: that one and the rest are held)."""
    r = room(run.ts, eng._busy[x])
    if r >= 0:
        rank = eng._ranks[x]
        w = rank.absorb(rank.digest(run.ms), r)
        if w is not None:
            k = len(run.ids)
            counters(eng, x, k)
            _absorbed(eng, x, run, w)
            return run.ts[-1], k
    return _each(eng, x, run, until)


def counters(eng: EngineState, x: int, k: int) -> None:
    """``k`` tree events reached ``x``: its deliveries and the links to its children
    (counted on arrival, taken or not)."""
    eng.deliveries += k
    kids = eng._children[x]
    if kids:
        if eng._copy_cost:
            down = eng._down
            for c in kids:
                down[c] += k
        else:
            eng._ev_fwd[x] += k


def _absorbed(eng: EngineState, x: int, run: Run, w: float) -> None:
    """Busy counters of ``x`` having taken each of ``run`` at its arrival (absorbed)."""
    k = len(run.ids)
    if w:
        eng._busy[x] = run.ts[-1] + w
        bt = eng._busy_time[x]
        key = (bt, w, k)  # bt += w, k times: idle ranks often share a history
        total = eng._lz_sums.get(key)
        if total is None:
            total = eng._lz_sums[key] = deque(accumulate(repeat(w, k), initial=bt), maxlen=1)[0]
        eng._busy_time[x] = total
    eng._lz_pos[x] = run.ids[-1] + 1


def _each(eng: EngineState, x: int, run: Run, until: float) -> tuple[float, int]:
    """``x`` takes ``run`` one by one through its handler, a busy rank taking the
    next when it is free, up to the first it would take after ``until``."""
    handler = eng._handlers[x]
    b, bt = eng._busy[x], eng._busy_time[x]
    h, k = -float("inf"), 0
    for t, m in zip(run.ts, run.ms, strict=True):
        s = t if t >= b else b
        if s > until:
            break
        h = s
        eng._cur, eng._now, eng._work = x, h, 0.0
        try:
            handler(m)
        finally:
            eng._cur = -1
        if eng._work:
            b = h + eng._work
            bt += eng._work
        k += 1
    eng._busy[x], eng._busy_time[x] = b, bt
    if k:
        counters(eng, x, k)
        eng._lz_pos[x] = run.ids[k - 1] + 1
    return h, k


def walk(eng: EngineState, until: float) -> tuple[float, float]:
    """Every lazy rank takes the events that reached it by ``until``, as far as the
    eager engine has by then (a rank still busy at ``until`` is put in
    ``_lz_held``, its first event not taken at ``_lz_pos``); returns the latest
    time one was taken and the earliest arrival after ``until``."""
    latest, due = -float("inf"), float("inf")
    rec = eng._lz_rec
    for top in list(eng._lz_tops):
        h, d = _subtree(eng, top, rec.get(top, EMPTY), until)
        latest, due = max(latest, h), min(due, d)
    return latest, due


def _subtree(eng: EngineState, x: int, run: Run, until: float) -> tuple[float, float]:
    """Settle ``x``'s subtree, ``run`` reaching ``x``: the latest time an event was
    taken, the earliest arrival after ``until``."""
    if run.ids and run.ts[-1] <= until:
        return _walk(eng, x, run, until)
    return _walk_runs(eng, [(x, run)], until)


def _times(ts: list[float], adds: tuple[float, ...]) -> list[float]:
    """``ts`` as it reaches a rank ``adds`` below: each addition in turn."""
    for a in adds:
        ts = [t + a for t in ts]
    return ts


def _walk(eng: EngineState, top: int, run: Run, until: float) -> tuple[float, float]:
    """Settle ``top``'s subtree, whose record ``run`` has all arrived, carrying
    exact times per rank (the module docstring); a rank that leaves the common
    case, or holds records of its own, settles its subtree on its own when its
    turn comes (so ranks take their events in the same order either way).
    Returns the latest time one was taken and the earliest arrival after ``until``."""
    ids, ts0, ms0 = run.ids, run.ts, run.ms
    pos, rec, children, ranks = eng._lz_pos, eng._lz_rec, eng._children, eng._ranks
    busy, busy_time, sums = eng._busy, eng._busy_time, eng._lz_sums
    ev_fwd, to_kid, fwd, copy = eng._ev_fwd, eng._down, eng._fwd, eng._copy_cost
    # The rounding of a gap between two times at any rank below (2 additions per
    # level at most, times below ts0[-1] + span), of the gap and of t[i] + w.
    margin = (4 * eng._lz_depth + 8) * 2.0**-52 * max(1.0, abs(ts0[-1]) + eng._lz_span)
    slices: dict[int, tuple[Run, Any, type, float, int]] = {}  # first -> (part, digest, ...)
    held = eng._lz_held
    came = len(ids)
    end = ids[-1] + 1  # _lz_pos of a rank that took it all
    latest, due = -float("inf"), float("inf")
    deliveries = 0
    stack: list[Any] = [(top, (), 0, ts0[0], ts0[-1])]
    while stack:
        x, adds, i, ti, last = stack.pop()
        if adds is None:  # a rank with records of its own (i): its subtree from them
            h, d = _subtree(eng, x, i, until)
            latest, due = max(latest, h), min(due, d)
            continue
        if last > until:  # not all of it has come
            h, d = _walk_runs(eng, [(x, Run(ids, _times(ts0, adds), ms0))], until)
            latest, due = max(latest, h), min(due, d)
            continue
        p = pos[x]
        first = i if ids[i] == p else bisect_left(ids, p)
        kids = children[x]
        if first < came:
            if first != i:  # its first event's exact time, added as on the way down
                i, ti = first, ts0[first]
                for a in adds:
                    ti += a
            rank = ranks[x]
            sl = slices.get(first)
            if sl is None or sl[2] is not type(rank):
                part = run.part(first, came) if first else run
                gap = min(map(sub, ts0[first + 1 :], ts0[first:-1]), default=float("inf"))
                cls = type(rank)
                sl = slices[first] = (part, cls.digest(part.ms), cls, gap - margin, came - first)
            # At once if each comes after the rank is done with the previous one.
            w = rank.absorb(sl[1], sl[3]) if ti >= busy[x] else None
            if w is None:
                h, k = _each(eng, x, Run(sl[0].ids, _times(sl[0].ts, adds), sl[0].ms), until)
                if k < sl[4]:
                    held.append(x)
            else:  # as take: counters, busy time
                k = sl[4]
                deliveries += k
                if kids:
                    if copy:
                        for c in kids:
                            to_kid[c] += k
                    else:
                        ev_fwd[x] += k
                h = last
                if w:
                    busy[x] = last + w
                    key = (busy_time[x], w, k)
                    total = sums.get(key)
                    if total is None:
                        total = sums[key] = deque(accumulate(repeat(w, k), initial=key[0]), 1)[0]
                    busy_time[x] = total
                pos[x] = end
            if h > latest:  # noqa: PLR1730 (faster than max() here)
                latest = h
        if not kids:
            continue
        down = (*adds, fwd)
        tf, lf = ti + fwd, last + fwd
        for j, k in enumerate(kids):
            off = j * copy
            more = rec.get(k)
            if more is not None:  # records of its own: merged
                tk = _times(ts0, (*down, off) if off else down)
                stack.append((k, None, Run(ids, tk, ms0).merge(more), 0.0, 0.0))
            elif off:
                stack.append((k, (*down, off), i, tf + off, lf + off))
            else:
                stack.append((k, down, i, tf, lf))
    eng.deliveries += deliveries
    return latest, due


def _walk_runs(eng: EngineState, stack: list[tuple[int, Run]], until: float) -> tuple[float, float]:
    """Settle the subtrees of ``stack``'s ranks, each with the run reaching it,
    every run written out; returns the latest time one was taken and the earliest
    arrival after ``until``."""
    latest, due = -float("inf"), float("inf")
    pos, rec, children = eng._lz_pos, eng._lz_rec, eng._children
    fwd, copy = eng._fwd, eng._copy_cost
    while stack:
        x, run = stack.pop()
        ts = run.ts
        came = bisect_right(ts, until)
        if came < len(ts):
            due = min(due, ts[came])
            run = run.part(0, came)
            ts = run.ts
        first = bisect_left(run.ids, pos[x])
        if first < came:
            h, k = take(eng, x, run.part(first, came) if first else run, until)
            if first + k < came:
                eng._lz_held.append(x)
            if h > latest:  # noqa: PLR1730 (faster than max() here)
                latest = h
        kids = children[x]
        if not kids:
            continue
        # The run as it reaches each child, added as fanout adds: (t + fwd) + j * copy.
        base = [t + fwd for t in ts]  # type: ignore[operator]
        for j, k in enumerate(kids):
            off = j * copy
            down = Run(run.ids, [b + off for b in base] if off else base, run.ms)
            more = rec.get(k)
            stack.append((k, down.merge(more) if more is not None else down))
    return latest, due


def collect(eng: EngineState, until: float) -> None:
    """Forget records and log entries every rank has taken by ``until``."""
    horizon = until - eng._lz_span
    rec = eng._lz_rec
    size = 0
    for a in list(rec):
        run = rec[a]
        first = bisect_left(run.ts, horizon)
        if first == len(run.ts):
            del rec[a]
        else:
            if first:
                rec[a] = run = run.part(first, len(run.ts))
            size += len(run.ts)
    eng._lz_size = size
    log, ix = eng._lz_log, eng._lz_ix
    while log and log[0][0] < horizon:
        del ix[id(log.popleft()[1])]
        eng._lz_lo += 1
