"""Causal consistency through hand-offs between processes.

Theory of operation
-------------------
Flux's causal recipe: process A commits, takes a version V that covers the commit,
passes V to process B (any channel outside the KVS), and B calls
``wait_version(V)`` before reading.  A history records the channel as a ``send``
by A and a ``recv`` by B with the same ``token``.  Happens-before is then:

* program order inside a process (:meth:`~kvs_sim.history.Op.precedes`), and
* a ``send`` invoked before the matching ``recv`` completed.

If A's commit completed before A's send of T and B received T, every read B makes
afterwards of a key the commit wrote must come from a version at least the
commit's.  Chains (A -> B -> C) carry the bound along.  This is exactly what the
Flux 0.88 follower off-by-one breaks: a commit on a follower *reports* one less
than the version it produced, so A passing the reported number makes B wait one
version short and possibly read the old value.  The checker does not look at the
number passed: it compares with what the commit really produced, and names the
number passed in its summary.

Under faults (:mod:`kvs_sim.checks._faults`) each leader epoch is judged on its
own and a process is not judged across a crash of its rank.

The second rule needs no hand-off: after a process's ``wait_version(v)`` completed
on a rank, its reads there come from version v or later.

Algorithm: one sweep over every invocation and completion in the order of
:meth:`~kvs_sim.history.Op.precedes` (so zero-duration ops at one instant stay in
id order).  Each process carries what it could pass on (its own completed commits
and what it received) and what it received.  A send's invocation snapshots the
sender's knowledge under its token; a recv's completion merges the snapshot; a
read's invocation is checked against what its process received.  A bound keeps
the ids of the commit and of each send and recv on the way: that chain plus the
read is the evidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kvs_sim.checks._common import (
    Verdict,
    Violation,
    is_read,
    norm_key,
    prefixes,
    show_read,
    show_writes,
)
from kvs_sim.checks._faults import fault_aware
from kvs_sim.history import History, Op, done_key, start_key

_Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Bound:
    """Reads of a key must come from ``version`` or later, because of ``commit``."""

    version: int
    commit: int
    chain: tuple[int, ...] = ()


def _merge(into: dict[_Key, _Bound], key: _Key, bound: _Bound) -> None:
    cur = into.get(key)
    if (
        cur is None
        or bound.version > cur.version
        or (bound.version == cur.version and len(bound.chain) < len(cur.chain))
    ):
        into[key] = bound


def _story(history: History, bound: _Bound) -> str:
    commit = history.op(bound.commit)
    hops = [history.op(i) for i in bound.chain]
    sends = hops[0::2]
    names = [commit.process, *(h.process for h in hops[1::2])]
    tokens = ", ".join(str(s.token) for s in sends)
    passed = [s.value for s in sends if isinstance(s.value, int) and not isinstance(s.value, bool)]
    text = f"after a hand-off {' -> '.join(names)} (token {tokens}"
    if passed:
        text += f", passing version {passed[0]}"
    text += (
        f"), but {commit.process}'s commit of {show_writes(commit)} had produced version "
        f"{commit.version} on rank {commit.rank} before it"
    )
    if commit.reported_version is not None and commit.reported_version != commit.version:
        text += f" (the commit reported version {commit.reported_version})"
    return text


@fault_aware
def check_causal(history: History) -> Verdict:
    """Reads after a hand-off (or a wait_version) see what happened before it."""
    events: list[tuple[tuple[float, float, int], int, Op]] = []
    for o in history.ops:
        events.append((start_key(o), 0, o))
        if o.complete is not None:
            events.append((done_key(o), 1, o))
    events.sort(key=lambda e: (e[0], e[1]))

    sendable: dict[str, dict[_Key, _Bound]] = defaultdict(dict)
    received: dict[str, dict[_Key, _Bound]] = defaultdict(dict)
    floors: dict[str, dict[tuple[int, str], Op]] = defaultdict(dict)
    sent: dict[str, dict[_Key, _Bound]] = defaultdict(dict)
    checked = 0
    violations: list[Violation] = []

    for _, completing, o in events:
        p = o.process
        if not completing:
            if o.op == "send" and o.token is not None:
                for key, b in sendable[p].items():
                    _merge(sent[o.token], key, _Bound(b.version, b.commit, (*b.chain, o.id)))
            elif is_read(o):
                applies, found = _check_read(history, o, received[p], floors[p])
                checked += applies
                if found is not None:
                    violations.append(found)
            continue
        if o.op == "commit" and o.ok and o.version is not None:
            for raw in o.writes or {}:
                _merge(sendable[p], (o.ns, norm_key(raw)), _Bound(o.version, o.id))
        elif o.op == "recv" and o.ok and o.token is not None:
            for key, b in sent.get(o.token, {}).items():
                hop = _Bound(b.version, b.commit, (*b.chain, o.id))
                _merge(received[p], key, hop)
                _merge(sendable[p], key, hop)
        elif o.op == "wait_version" and o.ok and o.version is not None:
            cur = floors[p].get((o.rank, o.ns))
            if cur is None or (cur.version or 0) < o.version:
                floors[p][(o.rank, o.ns)] = o
    return Verdict.of("causal", checked, violations)


def _check_read(
    history: History,
    r: Op,
    received: dict[_Key, _Bound],
    floors: dict[tuple[int, str], Op],
) -> tuple[bool, Violation | None]:
    """Whether a bound applies to read ``r``, and the violation if it breaks one."""
    assert r.key is not None and r.version is not None
    bound: _Bound | None = None
    for k in prefixes(norm_key(r.key)):
        b = received.get((r.ns, k))
        if b is not None and (bound is None or b.version > bound.version):
            bound = b
    wait = floors.get((r.rank, r.ns))
    if bound is None and wait is None:
        return False, None
    if bound is not None and r.version < bound.version:
        text = f"{show_read(r)} {_story(history, bound)}"
        if wait is not None:
            text += f"; {r.process} had waited for version {wait.version} (#{wait.id})"
        return True, Violation(summary=text, ops=(bound.commit, *bound.chain, r.id))
    if wait is not None and wait.version is not None and r.version < wait.version:
        return True, Violation(
            summary=f"{show_read(r)} after waiting for version {wait.version} there "
            f"(wait_version #{wait.id} completed)",
            ops=(wait.id, r.id),
        )
    return True, None
