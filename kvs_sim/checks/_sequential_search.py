"""Sequential consistency by search, for histories that carry no versions.

Theory of operation
-------------------
A history without the leader's versions (a Jepsen/Knossos EDN history, say) has
no witness order to verify, so the order is searched for: is there one total
order of the register operations that keeps each process's program order and
gives every read the value last written before it?  The problem is NP-complete
(Gibbons and Korach), and unlike linearizability it is not local: the keys
cannot be decided one by one, because a process's order ties its operations on
different keys together.  So the search runs over the whole history:

* the operations are the register operations of :mod:`~kvs_sim.checks._registers`
  (reads, writes, cas; failed ones left out); one history operation that writes
  several keys (a kvs-sim commit) is one atomic step;
* program order is real time within a process (an operation that completed
  before another was invoked comes first); a process whose operations overlap
  has several candidates at once;
* an indeterminate operation (Jepsen ``:info``) may take effect at any point
  after its predecessors, or never; it precedes nothing;
* a state is, per process, the length of its executed prefix, the operations
  executed beyond it and the indeterminate ones passed by but still possible,
  plus every register's value.  States are memoised, so each is expanded once;
* reads change nothing, so a read that is possible now is taken at once (taking
  it later can only constrain more): branching happens only on writes.  Writes
  are tried earliest-invoked first, so a linearizable history is found without
  backtracking in the common case.

The search ends with a witness (held), with proof that no order exists (every
reachable state expanded: violated), or with the time or state budget spent
(unknown).  A violation names where the search got furthest: how many operations
it could place, and the reads that no order could then explain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kvs_sim.checks._common import ABSENT, DIRECTORY, Violation, show_value
from kvs_sim.checks._registers import indeterminate, matches, registers
from kvs_sim.history import History, Op, done_key, start_key

PRUNE_LIMIT = 32
"""Readers or writers of one value beyond which the pruning skips it."""

MAX_STATES = 400_000
"""States memoised before the verdict is "unknown" (memory stays bounded)."""

_Key = tuple[float, float, int]
_Proc = tuple[int, frozenset[int], frozenset[int]]
_State = tuple[tuple[_Proc, ...], tuple[str, ...]]


@dataclass(slots=True)
class _Step:
    """One history operation as an atomic step over the registers it touches."""

    op: Op
    start: _Key
    done: _Key
    optional: bool
    effects: list[tuple[int, str, str, str | None]] = field(default_factory=list)

    @property
    def reads_only(self) -> bool:
        return all(f == "read" for _, f, _, _ in self.effects)


@dataclass(slots=True)
class SearchOutcome:
    """``held`` True (a witness found), False (no order exists) or None (budget)."""

    held: bool | None
    states: int
    placed: int = 0
    total: int = 0
    witness: list[Op] = field(default_factory=list)
    blocked: list[Violation] = field(default_factory=list)
    reason: str = ""


def _steps(history: History) -> tuple[list[list[_Step]], list[str]]:
    """Steps per process (each in invocation order) and the registers' names."""
    regs = registers(history)
    names = []
    by_op: dict[int, _Step] = {}
    for index, ((ns, key), ops) in enumerate(sorted(regs.items())):
        names.append(key if ns == "primary" else f"{ns}:{key}")
        for r in ops:
            step = by_op.get(r.op.id)
            if step is None:
                step = by_op[r.op.id] = _Step(
                    r.op, start_key(r.op), done_key(r.op), indeterminate(r.op)
                )
            step.effects.append((index, r.f, r.value, r.expect))
    procs: dict[str, list[_Step]] = {}
    for step in by_op.values():
        procs.setdefault(step.op.process, []).append(step)
    return [sorted(s, key=lambda x: x.start) for _, s in sorted(procs.items())], names


class _Search:
    """The memoised depth-first search (see the module docstring)."""

    def __init__(self, procs: list[list[_Step]], names: list[str]) -> None:
        self.procs = procs
        self.names = names
        self.total = sum(1 for p in procs for s in p if not s.optional)
        self.best: tuple[_State, int, Violation | None] = (
            ((), ()),
            -1,
            None,
        )  # the furthest state reached
        # who must see, and who may write, each value of each register
        self.readers: dict[tuple[int, str], list[tuple[int, int]]] = {}
        self.writers: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for p, steps in enumerate(procs):
            for j, s in enumerate(steps):
                for r, f, value, expect in s.effects:
                    if f != "write" and not s.optional:
                        seen = expect or ABSENT if f == "cas" else value
                        self.readers.setdefault((r, seen), []).append((p, j))
                    if f != "read":
                        self.writers.setdefault((r, value), []).append((p, j))

    # -- one process ------------------------------------------------------------

    def eligible(self, p: int, state: _Proc) -> Iterator[int]:
        """Indices of process ``p``'s steps that may run next (program order)."""
        pos, extra, deferred = state
        steps = self.procs[p]
        yield from sorted(deferred)
        min_done: _Key | None = None
        for j in range(pos, len(steps)):
            if j in extra:
                continue
            s = steps[j]
            if min_done is not None and min_done < s.start:
                break  # an unexecuted predecessor: this and every later step wait
            yield j
            if not s.optional and (min_done is None or s.done < min_done):
                min_done = s.done

    def advance(self, p: int, state: _Proc, j: int | None) -> _Proc:
        """Process ``p``'s state once its step ``j`` ran, normalised: the prefix
        grows over executed steps, and indeterminate steps it passes stay possible."""
        pos, extra, deferred = state
        if j is not None and j in deferred:
            deferred = deferred - {j}
        elif j is not None:
            extra = extra | {j}
        steps = self.procs[p]
        while pos < len(steps) and (pos in extra or steps[pos].optional):
            if pos in extra:
                extra = extra - {pos}
            else:
                deferred = deferred | {pos}
            pos += 1
        return pos, extra, deferred

    # -- registers --------------------------------------------------------------

    @staticmethod
    def conflict(step: _Step, values: tuple[str, ...]) -> tuple[int, str] | None:
        """The first register whose value ``step`` cannot see, and the value it needs."""
        for r, f, value, expect in step.effects:
            if f == "read" and not matches(values[r], value):
                return r, value
            if f == "cas" and not matches(values[r], expect or ABSENT):
                return r, expect or ABSENT
        return None

    @staticmethod
    def apply(step: _Step, values: tuple[str, ...]) -> tuple[str, ...]:
        out = list(values)
        for r, f, value, _ in step.effects:
            if f != "read":
                out[r] = value
        return tuple(out)

    @staticmethod
    def executed(procs: tuple[_Proc, ...], p: int, j: int) -> bool:
        pos, extra, deferred = procs[p]
        return (j < pos and j not in deferred) or j in extra

    def dead(
        self, step: _Step, before: tuple[str, ...], procs: tuple[_Proc, ...]
    ) -> Violation | None:
        """Did ``step`` overwrite a value that a read still to come must see, and
        that no write still to come can bring back?  Then no order goes on from
        here: say why.  (Checked where the lists are short: a pruning, never
        needed for the verdict.)"""
        for r, f, value, _ in step.effects:
            old = before[r]
            if f == "read" or old in (value, DIRECTORY) or old.startswith("{"):
                continue
            readers = self.readers.get((r, old), ())
            writers = self.writers.get((r, old), ())
            if not readers or len(readers) > PRUNE_LIMIT or len(writers) > PRUNE_LIMIT:
                continue
            waiting = [(p, j) for p, j in readers if not self.executed(procs, p, j)]
            if waiting and all(self.executed(procs, p, j) for p, j in writers):
                name, o = self.names[r], self.procs[waiting[0][0]][waiting[0][1]].op
                return Violation(
                    summary=f"#{step.op.id} {step.op.process} wrote {name}={show_value(value)} "
                    f"over {name}={show_value(old)}, which #{o.id} {o.process} has yet to read",
                    ops=(step.op.id, o.id),
                )
        return None

    # -- the search -------------------------------------------------------------

    def closure(self, state: _State, path: _Path) -> tuple[_State, _Path]:
        """Take every possible read at once (a read constrains nothing later)."""
        procs, values = state
        changed = True
        while changed:
            changed = False
            for p in range(len(procs)):
                for j in list(self.eligible(p, procs[p])):
                    s = self.procs[p][j]
                    if s.reads_only and not s.optional and self.conflict(s, values) is None:
                        procs = (*procs[:p], self.advance(p, procs[p], j), *procs[p + 1 :])
                        path = (s.op, path[1] + 1, path)
                        changed = True
        return (procs, values), path

    def complete(self, state: _State) -> bool:
        return all(
            pos == len(self.procs[p]) and not extra for p, (pos, extra, _) in enumerate(state[0])
        )

    def children(self, state: _State, path: _Path) -> list[tuple[tuple[bool, _Key], _State, _Path]]:
        """The states one write (or cas) on from ``state``, with their order: a
        write some waiting read needs first, then by invocation."""
        procs, values = state
        wanted = set()
        moves = []
        for p in range(len(procs)):
            for j in self.eligible(p, procs[p]):
                s = self.procs[p][j]
                bad = self.conflict(s, values)
                if s.reads_only:
                    if bad is not None and not s.optional:
                        wanted.add(bad)
                elif bad is None:
                    moves.append((p, j, s))
        out: list[tuple[tuple[bool, _Key], _State, _Path]] = []
        for p, j, s in moves:
            after = (*procs[:p], self.advance(p, procs[p], j), *procs[p + 1 :])
            why = self.dead(s, values, after)
            if why is not None:
                placed = path[1] + (not s.optional)
                if placed > self.best[1]:  # explain from here: it got furthest
                    self.best = ((after, self.apply(s, values)), placed, why)
                continue
            needed = any((r, v) in wanted for r, f, v, _ in s.effects if f != "read")
            nxt = (after, self.apply(s, values))
            out.append(((not needed, s.start), nxt, (s.op, path[1] + (not s.optional), path)))
        return out

    def run(self, deadline: float | None, max_states: int) -> SearchOutcome:
        start = tuple(
            self.advance(p, (0, frozenset(), frozenset()), None) for p in range(len(self.procs))
        )
        first = self.closure((start, (ABSENT,) * len(self.names)), (None, 0, None))
        stack = [first]
        seen: set[_State] = set()
        self.best = (first[0], -1, None)
        while stack:
            state, path = self.closure(*stack.pop())  # (closed when popped: most never are)
            if state in seen:
                continue
            seen.add(state)
            if self.complete(state):
                return SearchOutcome(True, len(seen), self.total, self.total, _ops(path))
            if path[1] > self.best[1]:
                self.best = (state, path[1], None)
            if len(seen) >= max_states or (
                deadline is not None and len(seen) % 256 == 1 and time.perf_counter() > deadline
            ):
                why = f"{len(seen):,} states" if len(seen) >= max_states else "its time budget"
                return SearchOutcome(
                    None, len(seen), self.best[1], self.total, reason=f"search stopped at {why}"
                )
            kids = self.children(state, path)
            kids.sort(key=lambda c: c[0], reverse=True)  # the earliest invoked is popped first
            stack.extend((nxt, p) for _, nxt, p in kids)
        best, placed, overwritten = self.best
        blocked = self.blocked(best)
        if overwritten is not None:
            blocked.insert(0, overwritten)
        return SearchOutcome(False, len(seen), placed, self.total, blocked=blocked)

    def blocked(self, state: _State) -> list[Violation]:
        """The operations no order could explain, from the furthest state reached."""
        procs, values = state
        out = []
        for p in range(len(procs)):
            for j in self.eligible(p, procs[p]):
                s = self.procs[p][j]
                bad = None if s.optional else self.conflict(s, values)
                if bad is None:
                    continue
                r, wanted = bad
                name = self.names[r]
                verb = "read" if s.reads_only else "cas"
                out.append(
                    Violation(
                        summary=f"#{s.op.id} {s.op.process} {verb} {name}={show_value(wanted)}, "
                        f"but {name} is {show_value(values[r])} there",
                        ops=(s.op.id,),
                    )
                )
                break
        return out


_Path = tuple[Op | None, int, "Any"]
"""A linked list of the ops placed so far: (op, count of determinate ops, rest)."""


def _ops(path: _Path) -> list[Op]:
    out = []
    node: Any = path
    while node is not None and node[0] is not None:
        out.append(node[0])
        node = node[2]
    return out[::-1]


def search_sequential(
    history: History, deadline: float | None = None, max_states: int = MAX_STATES
) -> SearchOutcome:
    """Search ``history`` for a sequential order; see the module docstring."""
    procs, names = _steps(history)
    return _Search(procs, names).run(deadline, max_states)
