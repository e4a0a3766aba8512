"""Checking a history with faults: epochs, crashed ranks, unknown outcomes.

Theory of operation
-------------------
A history with nemeses is judged in *views*, each an ordinary history the other
checkers read unchanged, so every guarantee gets the same treatment:

* **one view per leader epoch.**  A restarted leader resumes from its last
  checkpoint in a new epoch and counts versions again from there, so a version
  names a root only with its epoch.  The view of epoch e holds the operations and
  root records of epoch e, plus the commits that *survived* into it: those of the
  previous epoch's view at or below the checkpoint epoch e resumed from (the crash
  record's ``checkpoint``).  What a crash lost stays in the old epoch's view, where
  it was true; reads after the restart are never compared with it: the loss is a
  finding (the crash record lists it), not a violation of a session guarantee.
* **a process whose rank crashed is split** at each crash: its operations after
  the restart belong to a new session (``p1`` becomes ``p1 (after crash 1 of rank
  3)``), so session guarantees are judged only between operations with no crash of
  the process's rank in between, and the verdict's notes name the processes that
  were split.
* **indeterminate operations** (``indeterminate``, or never completed) are "may
  or may not have happened": a commit of unknown outcome may be read at any
  version (:class:`~kvs_sim.checks._state.ValueModel`'s ``maybe``) and bounds
  nothing; a read of unknown outcome is no read at all.  Operations that name no
  version (these, hand-offs, other failures) are in every epoch's view.

:func:`fault_aware` wraps a checker so that it runs on each view and merges the
verdicts; a history without nemeses or epochs is checked as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from kvs_sim.checks._common import Verdict
from kvs_sim.history import History, NemesisInterval, Op

Checker = Callable[[History], Verdict]


def _leader_restarts(history: History) -> dict[int, int]:
    """Epoch -> the checkpoint version that epoch resumed from."""
    out: dict[int, int] = {}
    for n in history.crashes(0):
        epoch, ckpt = n.detail.get("epoch"), n.detail.get("checkpoint")
        if isinstance(epoch, int) and isinstance(ckpt, int):
            out[epoch] = ckpt
    return out


def _session(op: Op, crashes: dict[int, list[NemesisInterval]]) -> str:
    """The session name of ``op``: its process, split at each crash of its rank."""
    k = sum(1 for n in crashes.get(op.rank, ()) if n.start < op.invoke)
    if not k:
        return op.process
    return f"{op.process} (after crash {k} of rank {op.rank})"


def fault_views(history: History) -> tuple[list[History], list[str]] | None:
    """The views to judge ``history`` in and notes on split processes; None when
    the history has no fault to account for (judge it as it is)."""
    epochs = {o.epoch for o in history.ops} | {r.epoch for r in history.roots}
    crashes: dict[int, list[NemesisInterval]] = {}
    for n in history.crashes():
        for r in n.ranks:
            if r != 0:
                crashes.setdefault(r, []).append(n)
    if epochs <= {0} and not crashes:
        return None
    resumed = _leader_restarts(history)
    # ops that name no version (hand-offs, failures, commits of unknown outcome)
    # belong to every epoch: their place is set by time, not by a root
    everywhere = [o for o in history.ops if o.version is None]
    split: set[str] = set()
    views: list[History] = []
    carried: list[Op] = []
    for e in sorted(epochs | {0}):
        if e in resumed:
            carried = [o for o in carried if (o.version or 0) <= resumed[e]]
        own = [o for o in history.ops if o.epoch == e and o.version is not None]
        ops: dict[int, Op] = {o.id: o for o in carried}
        for o in [*own, *everywhere]:
            name = _session(o, crashes)
            if name != o.process:
                split.add(o.process)
            ops.setdefault(o.id, o if name == o.process else replace(o, process=name))
        roots = tuple(r for r in history.roots if r.epoch == e)
        views.append(History(history.header, tuple(ops.values()), roots, history.nemeses))
        carried = [*carried, *(o for o in own if o.op == "commit" and o.version is not None)]
    notes = []
    if len(views) > 1:
        notes.append(
            f"judged in {len(views)} leader epochs; versions lost in a leader crash are "
            "listed in its crash record, not compared with reads after the restart"
        )
    if split:
        notes.append("not judged across a crash of their rank: " + ", ".join(sorted(split)))
    return views, notes


def fault_aware(check: Checker) -> Checker:
    """``check``, judged per view of :func:`fault_views` and merged into one verdict."""

    @functools.wraps(check)
    def judged(history: History) -> Verdict:
        found = fault_views(history)
        if found is None:
            return check(history)
        views, notes = found
        verdicts = [check(v) for v in views]
        merged = Verdict.of(
            verdicts[0].guarantee,
            sum(v.checked for v in verdicts),
            [x for v in verdicts for x in v.violations],
            [*notes, *(n for v in verdicts for n in v.notes)],
        )
        return merged

    return judged


def last_view(history: History) -> tuple[History, set[int]]:
    """The view of the last leader epoch, and the ranks still crashed at the end
    (for convergence: every live rank reaches the leader's final root)."""
    found = fault_views(history)
    view = history if found is None else found[0][-1]
    down = {r for n in history.crashes() if n.end is None for r in n.ranks}
    return view, down


def crash_starts(history: History) -> dict[int, list[float]]:
    """When each rank crashed, in time order (a rank's roots restart after each)."""
    out: dict[int, list[float]] = {}
    for n in history.crashes():
        for r in n.ranks:
            out.setdefault(r, []).append(n.start)
    return {r: sorted(ts) for r, ts in out.items()}
