"""Linearizability of a key-value history, key by key, with counterexamples in words.

Theory of operation
-------------------
:func:`check_linearizable` splits the history into registers
(:mod:`kvs_sim.checks._registers`: one per key read; what a commit means for each
key is documented there) and decides each one with the cheapest method that
applies (:mod:`kvs_sim.checks._search`): the recorded versions as a witness, then
Gibbons-Korach zones when every write is unique, then the general search, within
a per-key time budget.  A key not decided in time makes the verdict *unknown*
(never "held"); the verdict's notes say which keys and how each was decided.

A violation names the first operation that cannot be placed and says why, in the
words of the evidence: the values the register could hold when it had to take
effect and the operations that wrote them.  Its ``ops`` (by invocation, the
failing operation last) are a small failing sub-history: the failing operation,
those writers, the writes of the value it returned and the operations concurrent
with it.  When that is not enough to fail on its own, the operations completed
just before are added until it fails; then it is shrunk greedily (an operation,
a write with the reads of its value, is dropped while the rest still fails), so
every operation listed is needed.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kvs_sim.checks._common import ABSENT, Verdict, Violation, show_value
from kvs_sim.checks._registers import NEVER, RegOp, number, registers
from kvs_sim.checks._search import Outcome, by_versions, by_zones, search
from kvs_sim.history import History

DEFAULT_BUDGET = 10.0
"""Seconds per key before a key's verdict is "unknown"."""

SHRINK_LIMIT = 40
"""Sub-histories larger than this are shown as they are, not shrunk."""


@dataclass(slots=True)
class KeyVerdict:
    """How one register was decided."""

    ns: str
    key: str
    ops: int
    outcome: Outcome
    seconds: float
    tried: list[str] = field(default_factory=list)


def decide(ops: list[RegOp], deadline: float | None) -> tuple[Outcome, list[str]]:
    """The first method that decides ``ops``: versions, zones, then search."""
    tried = []
    if ops and all(r.op.version is not None for r in ops):
        out = by_versions(ops)
        tried.append("versions")
        if out.held is True:
            return out, tried
    out = by_zones(ops)
    tried.append("zones")
    if out.held is not None:
        return out, tried
    tried.append("search")
    return search(ops, deadline=deadline), tried


def check_keys(history: History, budget: float | None = DEFAULT_BUDGET) -> list[KeyVerdict]:
    """Every register of ``history`` decided, with ``budget`` seconds per key."""
    out = []
    for (ns, key), ops in sorted(registers(history).items()):
        t0 = time.perf_counter()
        outcome, tried = decide(ops, None if budget is None else t0 + budget)
        out.append(KeyVerdict(ns, key, len(ops), outcome, time.perf_counter() - t0, tried))
    return out


def check_linearizable(history: History, budget: float | None = DEFAULT_BUDGET) -> Verdict:
    """Is every key of ``history`` a linearizable register?  See the module docstring."""
    keys = check_keys(history, budget)
    violations = []
    unknown = []
    for kv in keys:
        if kv.outcome.held is False:
            violations.append(explain(history, kv))
        elif kv.outcome.held is None:
            unknown.append(f"{_name(kv)}: {kv.outcome.reason} after {kv.seconds:.3g} s")
    methods = Counter(kv.outcome.method for kv in keys if kv.outcome.held is not None)
    notes = []
    if keys:
        how = ", ".join(f"{n} by {m}" for m, n in sorted(methods.items()))
        n = sum(k.ops for k in keys)
        plural = "s" if len(keys) != 1 else ""
        notes.append(f"{len(keys)} key{plural}, {n} register operations ({how})")
    notes += [f"unknown within the time budget: {u}" for u in unknown]
    v = Verdict.of("linearizable", len(keys) - len(unknown), violations, notes)
    if unknown and v.held is True:
        v = Verdict(
            guarantee=v.guarantee, held=None, checked=v.checked, notes=v.notes, unknown=unknown
        )
    elif unknown:
        v.unknown.extend(unknown)
    return v


def _name(kv: KeyVerdict) -> str:
    return kv.key if kv.ns == "primary" else f"{kv.ns}:{kv.key}"


# ---------------------------------------------------------------------------
# Explanations


def _ms(history: History, t: float | None) -> str:
    if t is None:
        return "never"
    unit = history.header.config.get("time_unit", "s")
    if unit == "index":
        return f"event {t:g}"
    return f"{t * 1e3:.4g} ms"


def _val(c: str) -> str:
    return show_value(c)


def _is(key: str, c: str) -> str:
    return f"{key} absent" if c == ABSENT else f"{key}={_val(c)}"


def _what(key: str, w: RegOp) -> str:
    if w.f == "cas":
        return f"cas {key} {_val(w.expect or ABSENT)}->{_val(w.value)}"
    return f"write {key}={_val(w.value)}"


def _done_before(w: RegOp | None, r: RegOp) -> bool:
    return w is not None and w.end != NEVER and w.end < r.start


def _write_text(history: History, key: str, w: RegOp | None) -> str:
    if w is None:
        return "the initial value (absent)"
    o = w.op
    what = _what(key, w)
    if w.end == NEVER:
        return f"{o.process}'s {what} (invoked at {_ms(history, o.invoke)}, outcome unknown)"
    return f"{o.process}'s {what} (completed at {_ms(history, o.complete)})"


def _op_text(history: History, key: str, r: RegOp) -> str:
    o = r.op
    span = f"between {_ms(history, o.invoke)} and {_ms(history, o.complete)}"
    if r.f == "read":
        got = f"{key} absent" if r.value == ABSENT else f"{key}={_val(r.value)}"
        return f"{o.process} read {got} {span}"
    if r.f == "cas":
        return (
            f"{o.process}'s cas {key} {_val(r.expect or ABSENT)}->{_val(r.value)} succeeded {span}"
        )
    return f"{o.process} wrote {key}={_val(r.value)} {span}"


def explain(history: History, kv: KeyVerdict) -> Violation:
    """The violation of one key: words, and a small failing sub-history."""
    out = kv.outcome
    key = _name(kv)
    ops = registers_of(history, kv)
    r = out.failed
    if r is None:  # zones without a read: two writes' zones clash
        ids = tuple(sorted(m.op.id for m in out.involved))
        return Violation(summary=f"{key}: writes cannot be ordered", ops=ids)
    if out.method != "search" or not out.states:
        # recompute the configurations at the failing op with the search, for the words
        again = search(ops)
        if again.held is False and again.failed is not None:
            out, r = again, again.failed
    text = _op_text(history, key, r)
    if out.states:
        states = sorted(out.states.items(), key=lambda kv_: kv_[0])
        done = [w for _, w in states if w is not None and _done_before(w, r)]
        last = max(done, key=lambda w: w.end) if done else None
        if last is not None and last.op.complete is not None:
            text += (
                f", after {last.op.process}'s {_what(key, last)} had completed at "
                f"{_ms(history, last.op.complete)}"
            )
        others = [(st, w) for st, w in states if w is not last]
        if others:
            could = "; ".join(
                f"{_is(key, st)} ({'set by ' if w else ''}{_write_text(history, key, w)})"
                for st, w in others
            )
            lead = "; concurrent operations could only make it" if last else ", but by then"
            text += f"{lead} {key} could only be: {could}" if not last else f"{lead}: {could}"
    source = _sources(ops, r)
    if r.f == "read" and r.value != ABSENT:
        if source:
            text += f"; {key}={_val(r.value)} was written by " + ", ".join(
                _write_text(history, key, w) for w in source
            )
        else:
            text += f"; no operation ever wrote {key}={_val(r.value)}"
    sub = _subhistory(ops, r, out, source)
    before: list[int] = [m.op.id for m in sub if m is not r]
    return Violation(summary=text, ops=(*before, r.op.id))


def registers_of(history: History, kv: KeyVerdict) -> list[RegOp]:
    """The register operations of the key ``kv`` describes."""
    return registers(history).get((kv.ns, kv.key), [])


def _sources(ops: list[RegOp], r: RegOp) -> list[RegOp]:
    """The latest writes of the value ``r`` read (or expected), invoked before it ended."""
    want = r.value if r.f == "read" else r.expect
    cands = [w for w in ops if w.writes and w.value == want and w.start < r.end]
    return sorted(cands, key=lambda w: w.start)[-1:]


def _subhistory(ops: list[RegOp], r: RegOp, out: Outcome, source: list[RegOp]) -> list[RegOp]:
    chosen = {id(r): r}
    for w in [*out.states.values(), *source, *out.concurrent, *out.involved]:
        if w is not None:
            chosen[id(w)] = w
    sub = sorted(chosen.values(), key=lambda m: m.start)
    # not failing on its own: add the operations nearest before the failing one
    earlier = sorted(
        (m for m in ops if m.start < r.end and id(m) not in chosen), key=lambda m: -m.end
    )
    step = 4
    while _holds(sub) and earlier:
        sub = sorted([*sub, *earlier[:step]], key=lambda m: m.start)
        earlier, step = earlier[step:], step * 2
        if len(sub) > SHRINK_LIMIT:
            return sub
    keep = {r.value if r.f == "read" else r.expect}
    for m in list(sub):
        if m is r or (m.writes and m.value in keep) or m not in sub:
            continue
        # dropping a write drops the reads of its value too, so no read is left
        # without its writer (dropping reads alone never makes a history fail)
        gone = {id(m)}
        if m.writes:
            gone |= {id(x) for x in sub if x.f == "read" and x.value == m.value}
            if any(x.f == "cas" and x.expect == m.value for x in sub):
                continue
        trial = [x for x in sub if id(x) not in gone]
        if not _holds(trial):
            sub = trial
    return sub


def _holds(sub: list[RegOp]) -> bool:
    copies = [RegOp(m.op, m.f, m.value, m.expect) for m in sub]
    number(copies)
    return search(copies).held is not False


def key_table(keys: list[KeyVerdict]) -> list[dict[str, Any]]:
    """One row per key: method, verdict, operations, seconds (for --json and notebooks)."""
    return [
        {
            "ns": kv.ns,
            "key": kv.key,
            "ops": kv.ops,
            "method": kv.outcome.method,
            "tried": kv.tried,
            "held": kv.outcome.held,
            "reason": kv.outcome.reason,
            "seconds": kv.seconds,
        }
        for kv in keys
    ]
