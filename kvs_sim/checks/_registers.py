"""A history as key-value registers: the input of the linearizability checker.

Theory of operation
-------------------
Linearizability is *local* (P-compositional): a history of a key-value store is
linearizable iff the sub-history of each key is, as a register.  So the checker
sees a history as one register per ``(ns, key)`` that some operation reads (or
compare-and-sets: keys only ever written cannot be wrong), with three kinds of
register operation:

* **read** of a value: a ``get`` or ``watch`` response that returned a value or
  found the key absent (``ENOENT``: the value ``null``).  A read that failed
  otherwise, or never completed, read nothing and is left out;
* **write** of a value: a kvs-sim ``commit`` is a multi-key transaction; for each
  key read, a commit that touched it becomes one write of the value it left there
  (:func:`~kvs_sim.checks._common.effect`: writing the key sets it, writing or
  unlinking a parent directory makes it absent, writing below it makes it a
  directory, which any JSON object read matches).  Each key is checked on its own,
  so the atomicity of a commit *across* keys is not checked (that is strict
  serializability of transactions, a stronger property than per-key
  linearizability);
* **cas** ``old -> new`` (histories from other systems, such as Jepsen's): reads
  ``old`` and writes ``new`` atomically.

Outcomes, as Jepsen has them: an operation that completed ``ok`` took effect
between its invocation and completion; one that *failed* (completed with an
``error``) took no effect and is left out; an *indeterminate* one (``complete``
null, or ``indeterminate: true``; Jepsen's ``:info``) may or may not have taken
effect, at any time after its invocation.

Registers start ``null`` (absent), as a namespace starts empty.  Real time is
the history's order of invocations and completions (:meth:`~kvs_sim.history.Op.
precedes`): each register's events are numbered in that order, and the checkers
compare these positions only, so ties at one instant are decided once, here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kvs_sim.checks._common import ABSENT, DIRECTORY, canon, effect, norm_key, prefixes
from kvs_sim.history import History, Op, done_key, start_key

NEVER = 1 << 62
"""The completion position of an indeterminate operation (after every event)."""


@dataclass(slots=True)
class RegOp:
    """One register operation of one key.

    ``start``/``end`` are positions in the key's event order (``end`` is
    :data:`NEVER` for an indeterminate op); ``value`` is canonical JSON (a read's
    result, a write's value, a cas's new value), ``expect`` a cas's old value.
    """

    op: Op
    f: str
    value: str
    expect: str | None = None
    start: int = 0
    end: int = 0

    @property
    def determinate(self) -> bool:
        return self.end != NEVER

    @property
    def writes(self) -> bool:
        return self.f != "read"


def indeterminate(op: Op) -> bool:
    """The operation may or may not have taken effect (Jepsen's ``:info``)."""
    return (
        op.complete is None
        or bool(op.extra.get("indeterminate"))
        or bool(getattr(op, "indeterminate", False))
    )


def matches(state: str, value: str) -> bool:
    """A read of ``value`` is legal when the register holds ``state``."""
    return state == value or (state == DIRECTORY and value.startswith("{"))


def _read(o: Op) -> RegOp | None:
    if o.op not in ("get", "watch") or o.key is None or indeterminate(o):
        return None
    if o.ok:
        return RegOp(o, "read", canon(o.value))
    if o.error == "ENOENT":
        return RegOp(o, "read", ABSENT)
    return None


def _cas(o: Op) -> RegOp | None:
    v = o.value
    if not (isinstance(v, list) and len(v) == 2) or o.key is None:
        return None
    if not indeterminate(o) and not o.ok:
        return None
    return RegOp(o, "cas", canon(v[1]), expect=canon(v[0]))


def registers(history: History) -> dict[tuple[str, str], list[RegOp]]:
    """Every read (or cas'ed) register of ``history`` with its operations, numbered.

    The operations of each register are in invocation order; ``start``/``end``
    are set (see the module docstring).
    """
    regs: dict[tuple[str, str], list[RegOp]] = defaultdict(list)
    commits: list[Op] = []
    for o in history.ops:
        if o.op == "commit":
            if o.writes and (o.ok or indeterminate(o)):
                commits.append(o)
            continue
        r = _cas(o) if o.op == "cas" else _read(o)
        if r is not None and o.key is not None:
            regs[(o.ns, norm_key(o.key))].append(r)
    # the commits that touch each read key: at it, at a parent, or below it
    at: dict[tuple[str, str], list[Op]] = defaultdict(list)
    below: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for c in commits:
        for raw in c.writes or {}:
            w = norm_key(raw)
            at[(c.ns, w)].append(c)
            for p in prefixes(w)[:-1]:
                below[(c.ns, p)].append(c)
    for (ns, key), ops in regs.items():
        touching: dict[int, Op] = {}
        for p in prefixes(key):
            touching.update((c.id, c) for c in at.get((ns, p), ()))
        touching.update((c.id, c) for c in below.get((ns, key), ()))
        for c in touching.values():
            e = effect(c, key)
            if e is not None:
                ops.append(RegOp(c, "write", e))
    for ops in regs.values():
        number(ops)
    return dict(regs)


def number(ops: list[RegOp]) -> None:
    """Sort ``ops`` by invocation and set their event positions, in place."""
    ops.sort(key=lambda r: start_key(r.op))
    events: list[tuple[Any, int, int]] = []
    for i, r in enumerate(ops):
        events.append((start_key(r.op), 0, i))
        if not indeterminate(r.op):
            events.append((done_key(r.op), 1, i))
    events.sort()
    for pos, (_, kind, i) in enumerate(events):
        if kind == 0:
            ops[i].start = pos
            ops[i].end = NEVER
        else:
            ops[i].end = pos
