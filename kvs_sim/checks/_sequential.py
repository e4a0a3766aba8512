"""Sequential consistency, with the leader's version order as the witness.

Theory of operation
-------------------
A history is sequentially consistent when one total order of its operations
respects each process's program order and gives every read the value last
written before it (Lamport).  Deciding it is NP-complete in general, but a Flux
KVS makes its own order: the leader serialises the commits of a namespace into
versions 1, 2, ...  and every read is served from one version.  The *witness* is
that order: each commit at the version it produced, each read (and successful
``get_version``) just after the commits of the version it saw.  It is a valid
sequential order iff

* **values**: every read returns what its version holds (checked as
  ``read-validity`` does, with the commits' writes; a version that merged
  several commits writing one key allows any of their values), and
* **program order**: when a process's operation A completed before its operation
  B was invoked, A's place in the witness is not after B's (a read at version v
  then a commit that produced v, say, breaks it).

When both hold the verdict is "held" and the notes show the witness (its first
positions).  A violation names the two operations out of order, or the read whose
value its version cannot hold.  Because the versions are the system's own order,
a violation says that the *recorded* execution was not sequential; another order
that happens to explain the same values is not searched for.  Namespaces are
separate version sequences and are checked separately (an order across them is
not checked).

Histories without versions (other systems', such as Jepsen's) have no witness to
verify.  A linearizable history is sequentially consistent, so the
linearizability checker answers first; otherwise an order is searched for
(:mod:`~kvs_sim.checks._sequential_search`): held with the order found, violated
with the reads no order explains, or unknown when the search spends its time
budget (the problem is NP-complete and not local: large non-linearizable
histories over many keys often end unknown).
"""

from __future__ import annotations

import time
from collections import defaultdict

from kvs_sim.checks._common import (
    Verdict,
    Violation,
    canon,
    is_observation,
    read_value,
    show_read,
    show_value,
    show_writes,
)
from kvs_sim.checks._sequential_search import search_sequential
from kvs_sim.checks._state import ValueModel, value_matches
from kvs_sim.history import History, Op, done_key, start_key

SHOWN = 6
"""Versions of the witness shown in the notes."""


def _place(o: Op) -> tuple[int, int] | None:
    """An operation's place in the witness: (version, 0 commit / 1 observation)."""
    if o.op == "commit":
        return (o.version, 0) if o.ok and o.version is not None else None
    if is_observation(o):
        assert o.version is not None
        return (o.version, 1)
    return None


def _describe(o: Op) -> str:
    if o.op == "commit":
        return f"#{o.id} {o.process} commit {show_writes(o)} -> version {o.version}"
    if o.op == "get_version":
        return f"#{o.id} {o.process} get_version = {o.version}"
    return f"#{o.id} {show_read(o)}"


SEARCH_BUDGET = 10.0
"""Seconds the search for an order may take (histories without versions)."""


def check_sequential(history: History, budget: float | None = SEARCH_BUDGET) -> Verdict:
    """Is the version order a sequential witness?  Without versions, is there one?
    See the module docstring; ``budget`` bounds the search, in seconds."""
    placed = [(o, p) for o in history.ops if (p := _place(o)) is not None]
    if not placed:
        return _searched(history, budget)
    violations: list[Violation] = []
    model = ValueModel(history)
    for o, _ in placed:
        if o.op == "get_version" or o.key is None or o.version is None:
            continue
        if not model.written(o.ns, o.key):
            continue
        allowed, setters = model.at(o.ns, o.key, o.version)
        if value_matches(read_value(o), allowed | model.maybe(o.ns, o.key)):
            continue
        shown = ", ".join(sorted(show_value(c) for c in allowed))
        violations.append(
            Violation(
                summary=f"{show_read(o)}, but in the version order {o.key} is {shown} there",
                ops=(*setters, o.id),
            )
        )
    by_process: dict[tuple[str, str], list[tuple[Op, tuple[int, int]]]] = defaultdict(list)
    for o, p in placed:
        by_process[(o.process, o.ns)].append((o, p))
    for ops in by_process.values():
        violations.extend(_program_order(ops))
    notes = []
    if not violations:
        notes = _witness_notes(history, placed)
    return Verdict.of("sequential", len(placed), violations, notes)


def _program_order(ops: list[tuple[Op, tuple[int, int]]]) -> list[Violation]:
    """Ops of one process whose witness places go back against program order."""
    done = sorted(ops, key=lambda e: done_key(e[0]))
    out = []
    best: tuple[Op, tuple[int, int]] | None = None
    j = 0
    for o, p in sorted(ops, key=lambda e: start_key(e[0])):
        while j < len(done) and done_key(done[j][0]) < start_key(o):
            if best is None or done[j][1] > best[1]:
                best = done[j]
            j += 1
        if best is not None and best[1] > p:
            a = best[0]
            out.append(
                Violation(
                    summary=f"{o.process}: {_describe(a)} completed before {_describe(o)} "
                    f"was invoked, but the version order puts it after",
                    ops=(a.id, o.id),
                )
            )
    return out


def _witness_notes(history: History, placed: list[tuple[Op, tuple[int, int]]]) -> list[str]:
    notes = []
    for ns in sorted({o.ns for o, _ in placed}):
        mine = sorted(((p, o.id, o) for o, p in placed if o.ns == ns), key=lambda e: e[:2])
        versions = sorted({p[0] for p, _, _ in mine})
        notes.append(
            f"{ns}: witness is the leader's version order, versions {versions[0]}-{versions[-1]}"
            f" ({len(mine)} operations: each commit at its version, each read after it)"
        )
        for v in versions[:SHOWN]:
            at = [o for p, _, o in mine if p[0] == v]
            commits = [_describe(o) for o in at if o.op == "commit"]
            reads = [o for o in at if o.op != "commit"]
            values = sorted({canon(read_value(o)) for o in reads if o.key is not None})
            text = "; ".join(commits) or "no commit recorded"
            if reads:
                text += f"; then {len(reads)} observation{'s' if len(reads) != 1 else ''}"
                if values:
                    text += f" (values {', '.join(show_value(c) for c in values[:4])})"
            notes.append(f"  version {v}: {text}")
        if len(versions) > SHOWN:
            notes.append(f"  ... {len(versions) - SHOWN} more versions")
    return notes


def _searched(history: History, budget: float | None) -> Verdict:
    """The verdict on a history without versions: linearizable implies sequential
    (linearizability is local, and a linearization keeps program order), so the
    fast linearizability checker answers first; otherwise an order is searched for."""
    from kvs_sim.checks._linear import check_linearizable

    t0 = time.perf_counter()
    lin = check_linearizable(history, budget)
    if lin.held is True:
        return Verdict.of(
            "sequential",
            lin.checked,
            [],
            ["linearizable, hence sequentially consistent (no versions recorded)", *lin.notes],
        )
    left = None if budget is None else max(0.0, budget - (time.perf_counter() - t0))
    t0 = time.perf_counter()
    out = search_sequential(history, None if left is None else t0 + left)
    took = time.perf_counter() - t0
    if out.total == 0:
        return Verdict.of("sequential", 0, [])
    how = f"searched {out.states:,} states in {took:.3g} s (no versions recorded)"
    if out.held is None:
        return Verdict(
            guarantee="sequential",
            held=None,
            checked=0,
            notes=[how],
            unknown=[f"{out.reason}: {out.placed} of {out.total} operations placed"],
        )
    if out.held is False:
        why = "; ".join(v.summary for v in out.blocked) or "no process could go on"
        bad = Violation(
            summary=f"no order of the {out.total} operations keeps every process's order "
            f"and explains every read: at most {out.placed} can be placed, then {why}",
            ops=tuple(i for v in out.blocked for i in v.ops),
        )
        return Verdict.of("sequential", out.total, [bad], [how])
    shown = ", ".join(f"#{o.id}" for o in out.witness[:12])
    more = f" ... ({len(out.witness)} in all)" if len(out.witness) > 12 else ""
    return Verdict.of("sequential", out.total, [], [how, f"a witness order: {shown}{more}"])
