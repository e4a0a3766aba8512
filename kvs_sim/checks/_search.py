"""Three ways to decide whether one register's history is linearizable.

Theory of operation
-------------------
Each function takes the operations of one register (:mod:`kvs_sim.checks._registers`,
numbered by event position) and answers held, violated or unknown.

**Versions** (:func:`by_versions`, linear time after sorting): kvs-sim records the
truth, the version each read was served from and each commit produced.  Ordering
the writes by version, each read right after the write of its version, is a
candidate linearization; it is one if every read returns what the order says and
every operation can be given a point inside its interval in that order (a greedy
sweep: each point is the later of the previous point and the operation's
invocation, and must not pass its completion).  A failure proves nothing (another
order may fit), so the caller goes on to the next method.

**Zones** (:func:`by_zones`, O(n log n); Gibbons and Korach's characterisation,
as used by Golab, Li and Shah): when every write of the register writes a
different value, each read's writer is known.  A *cluster* is a write and its
reads; let f be the earliest completion in it and s the latest invocation.  When
f < s the cluster's value must stay put from f to s (a *forward zone* [f, s]);
otherwise the whole cluster fits at one point in [s, f] (a *backward zone*).  The
history is linearizable iff no read completed before its write was invoked, no two
forward zones overlap, and no backward zone lies inside a forward zone.

**Search** (:func:`search`): the general case (duplicate values, cas,
indeterminate writes), in the style of Lowe's just-in-time linearization, as
Knossos's linear checker does.  Events are swept in order.  A *configuration* is
the register's value plus which *pending* operations (invoked, not yet completed)
have already been linearized; the set of configurations is everything the prefix
allows.  An invocation adds a pending operation; a completion keeps, from each
configuration, every way of linearizing some pending operations and then the
completing one (a depth-first closure, deduplicated).  No configuration left: the
completing operation cannot be placed, and the configurations before it are the
evidence.  The memo is the configuration set itself, keyed by (value, bitmask over
the pending slots): slots are reused when operations complete, so memory is
bounded by values x 2^concurrency and does not grow with the history's length
(Porcupine's cache keeps a bitset of the whole history per entry).
Indeterminate writes stay pending forever and are optional: a configuration in
which fewer of them were used dominates one with the same value and more, so only
the minimal ones are kept, and a slot every configuration used is freed.
A deadline gives "unknown" instead of running on.
"""

from __future__ import annotations

import heapq
import itertools
import time
from bisect import bisect_right
from dataclasses import dataclass, field

from kvs_sim.checks._common import ABSENT, DIRECTORY
from kvs_sim.checks._registers import NEVER, RegOp, matches

MAX_CONFIGS = 2_000_000
"""Configurations beyond which the search gives up with "unknown" (memory bound)."""


@dataclass(slots=True)
class Outcome:
    """What a method found for one register.

    ``held``: True, False, or None (unknown / method does not apply, see
    ``reason``).  On a violation ``failed`` is the operation that cannot be placed,
    ``states`` the values the register could hold when it had to take effect, each
    with the op that wrote it (None: the initial value), and ``concurrent`` the ops
    pending then.  ``clusters`` names the zones that clash (zones method).
    """

    method: str
    held: bool | None
    reason: str = ""
    failed: RegOp | None = None
    states: dict[str, RegOp | None] = field(default_factory=dict)
    concurrent: list[RegOp] = field(default_factory=list)
    involved: list[RegOp] = field(default_factory=list)
    peak_configs: int = 0


def _step(r: RegOp, state: str) -> str | None:
    """The register's value after ``r`` at ``state``; None if ``r`` cannot happen there."""
    f = r.f
    if f == "write":
        return r.value
    if f == "read":
        v = r.value
        return state if state == v or (state == DIRECTORY and v[:1] == "{") else None
    return r.value if state == r.expect else None


# ---------------------------------------------------------------------------
# Versions


def by_versions(ops: list[RegOp], init: str = ABSENT) -> Outcome:
    """The version order as a linearization (kvs-sim histories): held or not applicable."""
    writes: dict[int, RegOp] = {}
    reads: list[RegOp] = []
    for r in ops:
        v = r.op.version
        if v is None or r.f == "cas":
            return Outcome("versions", None, "an operation without a version")
        if r.f == "write":
            if v in writes:
                return Outcome("versions", None, f"two commits merged into version {v}")
            writes[v] = r
        else:
            reads.append(r)
    wv = sorted(writes)
    order: list[tuple[int, int, int, RegOp]] = []
    for v, w in writes.items():
        order.append((v, 0, w.start, w))
    for r in reads:
        assert r.op.version is not None
        i = bisect_right(wv, r.op.version)
        state = writes[wv[i - 1]].value if i else init
        if not matches(state, r.value):
            return Outcome("versions", None, "a read's value is not its version's")
        order.append((wv[i - 1] if i else -1, 1, r.start, r))
    order.sort(key=lambda e: e[:3])
    t = -1
    group: tuple[int, int] | None = None
    group_t = -1
    for v, kind, _, r in order:
        if (v, kind) != group:
            t, group = group_t, (v, kind)
        point = max(t, r.start)
        if point > r.end:
            return Outcome("versions", None, "the version order breaks real time")
        group_t = max(group_t, point)
    return Outcome("versions", True)


# ---------------------------------------------------------------------------
# Zones


def by_zones(ops: list[RegOp], init: str = ABSENT) -> Outcome:
    """Gibbons-Korach zones when every write is unique: held, violated or not applicable."""
    writers: dict[str, RegOp] = {}
    for r in ops:
        if r.f == "cas":
            return Outcome("zones", None, "compare-and-set operations")
        if r.f == "write":
            if r.value in writers or r.value in (init, DIRECTORY):
                return Outcome("zones", None, "a value written twice")
            writers[r.value] = r
    clusters: dict[str | None, list[RegOp]] = {}
    for r in ops:
        if r.f != "read":
            continue
        if r.value == init:
            clusters.setdefault(None, []).append(r)
            continue
        w = writers.get(r.value)
        if w is None:
            return Outcome("zones", False, failed=r, involved=[r])
        if r.end < w.start:
            return Outcome("zones", False, failed=r, involved=[w, r])
        clusters.setdefault(r.value, [w]).append(r)
    for v, w in writers.items():
        if w.determinate and v not in clusters:
            clusters[v] = [w]
    forward: list[tuple[int, int, list[RegOp]]] = []
    backward: list[tuple[int, int, list[RegOp]]] = []
    for value, members in clusters.items():
        f = min(m.end for m in members) if value is not None else -1
        s = max(m.start for m in members)
        (forward if f < s else backward).append((f, s, members) if f < s else (s, f, members))
    forward.sort(key=lambda z: z[0])
    for a, b in itertools.pairwise(forward):
        if b[0] < a[1]:
            return _clash(a[2], b[2])
    starts = [z[0] for z in forward]
    for s, f, members in backward:
        i = bisect_right(starts, s) - 1
        if i >= 0 and f < forward[i][1]:
            return _clash(forward[i][2], members)
    return Outcome("zones", True)


def _clash(a: list[RegOp], b: list[RegOp]) -> Outcome:
    reads = [m for m in a + b if m.f == "read"]
    failed = max(reads, key=lambda m: m.end) if reads else None
    return Outcome("zones", False, failed=failed, involved=a + b)


# ---------------------------------------------------------------------------
# Search


def search(ops: list[RegOp], *, deadline: float | None = None, init: str = ABSENT) -> Outcome:
    """Just-in-time linearization over configurations (see the module docstring)."""
    events: list[tuple[int, int]] = []
    for i, r in enumerate(ops):
        events.append((r.start, i))
        if r.end != NEVER:
            events.append((r.end, i))
    events.sort()
    slot_of: dict[int, int] = {}
    pending: dict[int, int] = {}
    free: list[int] = []
    info_slots: set[int] = set()
    next_slot = 0
    configs: dict[tuple[str, int], int] = {(init, 0): -1}
    peak = 1
    for n, (pos, i) in enumerate(events):
        if deadline is not None and not n & 255 and time.perf_counter() > deadline:
            return Outcome("search", None, "time budget exhausted", peak_configs=peak)
        r = ops[i]
        if pos == r.start:
            if free:
                slot = heapq.heappop(free)
            else:
                slot, next_slot = next_slot, next_slot + 1
            slot_of[i] = slot
            pending[slot] = i
            if r.end == NEVER:
                info_slots.add(slot)
            continue
        slot = slot_of[i]
        bit = 1 << slot
        new, seen = _complete(ops, configs, pending, i, bit)
        del pending[slot]
        heapq.heappush(free, slot)
        if not new:
            return _violation(ops, i, seen, pending, peak)
        if info_slots:
            new = _prune(new, info_slots, pending, free)
        configs = new
        peak = max(peak, len(configs))
        if peak > MAX_CONFIGS:
            return Outcome("search", None, "too many configurations", peak_configs=peak)
    return Outcome("search", True, peak_configs=peak)


def _complete(
    ops: list[RegOp],
    configs: dict[tuple[str, int], int],
    pending: dict[int, int],
    i: int,
    bit: int,
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """The configurations after op ``i`` completes, and every node the closure saw."""
    target = ops[i]
    new: dict[tuple[str, int], int] = {}
    seen: dict[tuple[str, int], int] = dict(configs)
    stack = [(st, m, wr) for (st, m), wr in configs.items()]
    others = [(1 << s, j) for s, j in pending.items() if j != i]
    while stack:
        st, m, wr = stack.pop()
        if m & bit:
            new.setdefault((st, m & ~bit), wr)
            continue
        st2 = _step(target, st)
        if st2 is not None:
            new.setdefault((st2, m), i if target.f != "read" else wr)
        for b, j in others:
            if m & b:
                continue
            r = ops[j]
            st2 = _step(r, st)
            if st2 is None:
                continue
            node = (st2, m | b)
            if node not in seen:
                w = j if r.f != "read" else wr
                seen[node] = w
                stack.append((st2, m | b, w))
    return new, seen


def _prune(
    configs: dict[tuple[str, int], int],
    info_slots: set[int],
    pending: dict[int, int],
    free: list[int],
) -> dict[tuple[str, int], int]:
    """Drop configurations dominated on indeterminate ops; free slots all have used."""
    info = 0
    for s in list(info_slots):
        if s in pending:
            info |= 1 << s
        else:
            info_slots.discard(s)
    used_by_all = info
    for _, m in configs:
        used_by_all &= m
    if used_by_all:
        for s in list(info_slots):
            if used_by_all >> s & 1:
                info_slots.discard(s)
                del pending[s]
                heapq.heappush(free, s)
        configs = {(st, m & ~used_by_all): w for (st, m), w in configs.items()}
        info &= ~used_by_all
    if not info or len(configs) < 2:
        return configs
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for (st, m), w in configs.items():
        groups.setdefault((st, m & ~info), []).append((m & info, w))
    out: dict[tuple[str, int], int] = {}
    for (st, det), masks in groups.items():
        masks.sort(key=lambda e: bin(e[0]).count("1"))
        kept: list[int] = []
        for im, w in masks:
            if any(k & im == k for k in kept):
                continue
            kept.append(im)
            out[(st, det | im)] = w
    return out


def _violation(
    ops: list[RegOp],
    i: int,
    seen: dict[tuple[str, int], int],
    pending: dict[int, int],
    peak: int,
) -> Outcome:
    states: dict[str, RegOp | None] = {}
    for (st, _), w in seen.items():
        if st not in states or states[st] is None:
            states[st] = ops[w] if w >= 0 else None
    concurrent = [ops[j] for j in pending.values()]
    return Outcome(
        "search", False, failed=ops[i], states=states, concurrent=concurrent, peak_configs=peak
    )
