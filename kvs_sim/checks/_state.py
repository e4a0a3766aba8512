"""What the committed history says a key holds at a version; read-validity; convergence.

Theory of operation
-------------------
The commits of a namespace, grouped by the version they produced, define the store
at every version: a key holds the effect (see :func:`~kvs_sim.checks._common.effect`)
of the last version that touched it.  When the leader merged several commits into
one version their order inside the batch is not recorded, so a version may leave
*several* candidate values for a key; a read matches if it returned any of them.
:class:`ValueModel` answers "which values may ``key`` hold at version ``v``" from a
per-key timeline built once per key, then by bisection.

Assumptions, stated once:

* namespaces start empty.  A key no recorded commit touched is not checked at all
  (it may predate the history); a key that *was* written is absent before its first
  write;
* a commit whose version is unknown but that did not fail (it never completed, or
  completed without saying) may have applied anywhere: its values are accepted at
  every version, which weakens the check only for that key;
* failed commits (``error`` set, no ``version``) changed nothing, unless their
  outcome is unknown (``indeterminate``): those may have applied anywhere too;
* directory contents are not modelled: a key that is a directory at a version
  matches any JSON object a read returned (a listing), and nothing else.

``read-validity`` checks every read of a written key against the model: it is a
sanity check of the producer (a simulator bug, a history with a wrong ``version``)
more than of a consistency guarantee.  ``convergence`` is eventual consistency read
off the root records: each rank must reach the final version of each namespace; the
verdict's notes say when the last rank got there.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from kvs_sim.checks._common import (
    ABSENT,
    DIRECTORY,
    Verdict,
    Violation,
    canon,
    effect,
    is_read,
    norm_key,
    read_value,
    show_read,
    show_value,
)
from kvs_sim.checks._faults import fault_aware, last_view
from kvs_sim.history import History, Op, RootEvent


@dataclass(frozen=True, slots=True)
class _Timeline:
    versions: list[int]
    values: list[frozenset[str]]
    commits: list[tuple[int, ...]]


class ValueModel:
    """The values each key may hold at each version, from a history's commits."""

    def __init__(self, history: History) -> None:
        self._known: dict[str, list[Op]] = {}
        self._unknown: dict[str, list[Op]] = {}
        for o in history.ops:
            if o.op != "commit" or o.writes is None:
                continue
            if o.version is not None:
                self._known.setdefault(o.ns, []).append(o)
            elif o.error is None or o.outcome_unknown:
                self._unknown.setdefault(o.ns, []).append(o)
        for commits in self._known.values():
            commits.sort(key=lambda o: o.version or 0)
        self._cache: dict[tuple[str, str], _Timeline] = {}

    def _timeline(self, ns: str, key: str) -> _Timeline:
        tl = self._cache.get((ns, key))
        if tl is None:
            versions: list[int] = []
            values: list[frozenset[str]] = []
            commits: list[tuple[int, ...]] = []
            for o in self._known.get(ns, []):
                c = effect(o, key)
                if c is None:
                    continue
                assert o.version is not None
                if versions and versions[-1] == o.version:
                    values[-1] = values[-1] | {c}
                    commits[-1] = (*commits[-1], o.id)
                else:
                    versions.append(o.version)
                    values.append(frozenset({c}))
                    commits.append((o.id,))
            tl = self._cache[(ns, key)] = _Timeline(versions, values, commits)
        return tl

    def written(self, ns: str, key: str) -> bool:
        """True when some recorded commit (known version or not) touched ``key``."""
        key = norm_key(key)
        if self._timeline(ns, key).versions:
            return True
        return any(effect(o, key) is not None for o in self._unknown.get(ns, []))

    def at(self, ns: str, key: str, version: int) -> tuple[frozenset[str], tuple[int, ...]]:
        """Candidate canonical values of ``key`` at ``version``, and the commits that
        set them (none when the key had not been written yet: it is absent)."""
        tl = self._timeline(ns, norm_key(key))
        i = bisect_right(tl.versions, version)
        if i == 0:
            return frozenset({ABSENT}), ()
        return tl.values[i - 1], tl.commits[i - 1]

    def between(self, ns: str, key: str, lo: int, hi: int) -> frozenset[str]:
        """Every value commits with ``lo <= version <= hi`` left at ``key``."""
        tl = self._timeline(ns, norm_key(key))
        out: set[str] = set()
        for v, vals in zip(tl.versions, tl.values, strict=True):
            if lo <= v <= hi:
                out |= vals
        return frozenset(out)

    def maybe(self, ns: str, key: str) -> frozenset[str]:
        """Values of commits with unknown version: accepted at any version."""
        key = norm_key(key)
        found = (effect(o, key) for o in self._unknown.get(ns, []))
        return frozenset(c for c in found if c is not None)

    def sources(self, ns: str, key: str, value: str) -> tuple[int, ...]:
        """Ids of known-version commits that left ``value`` at ``key``."""
        tl = self._timeline(ns, norm_key(key))
        return tuple(
            cid
            for vals, ids in zip(tl.values, tl.commits, strict=True)
            if value in vals
            for cid in ids
        )


def value_matches(value: Any, allowed: frozenset[str]) -> bool:
    """True when a read's ``value`` is one of the ``allowed`` canonical values.

    A key that is a directory matches any JSON object read (a listing): directory
    contents are not modelled.
    """
    return canon(value) in allowed or (DIRECTORY in allowed and isinstance(value, dict))


def _show_candidates(values: frozenset[str]) -> str:
    shown = sorted(show_value(c) for c in values)
    return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)


@fault_aware
def check_read_validity(history: History) -> Verdict:
    """Each read of a written key returned a value its version can hold."""
    model = ValueModel(history)
    checked = 0
    violations: list[Violation] = []
    for o in history.ops:
        if not is_read(o) or o.key is None or o.version is None:
            continue
        if not model.written(o.ns, o.key):
            continue
        checked += 1
        got = canon(read_value(o))
        allowed, setters = model.at(o.ns, o.key, o.version)
        if value_matches(read_value(o), allowed | model.maybe(o.ns, o.key)):
            continue
        why = (
            f"but {o.key} is {_show_candidates(allowed)} at version {o.version}"
            + (f" (set by commit {', '.join(f'#{i}' for i in setters)})" if setters else "")
            + ("" if setters else " (no commit had written it yet)")
        )
        origin = [i for i in model.sources(o.ns, o.key, got) if i not in setters][:1]
        if origin:
            src = history.op(origin[0])
            if got == ABSENT:
                why += f"; it was removed by commit #{src.id} at version {src.version}"
            else:
                why += (
                    f"; {show_value(got)} was written by commit #{src.id} at version {src.version}"
                )
        violations.append(
            Violation(summary=f"{show_read(o)}, {why}", ops=(o.id, *setters, *origin))
        )
    return Verdict.of("read-validity", checked, violations)


def check_convergence(history: History) -> Verdict:
    """Every rank reached the final version of every namespace (eventual consistency).

    Under faults: the last leader epoch's final version, by every rank alive at
    the end (:func:`~kvs_sim.checks._faults.last_view`)."""
    history, down = last_view(history)
    if not history.roots:
        return Verdict.of("convergence", 0, [])
    finals = history.final_versions()
    ranks = [r for r in history.ranks() if r not in down]
    checked = 0
    violations: list[Violation] = []
    notes: list[str] = []
    for ns in sorted({r.ns for r in history.roots}):
        final = finals[ns]
        created = history.created(ns).get(final)
        reached: dict[int, RootEvent] = {}
        last_seen: dict[int, RootEvent] = {}
        for r in history.roots:
            if r.ns != ns:
                continue
            last_seen[r.rank] = r
            if r.version >= final and r.rank not in reached:
                reached[r.rank] = r
        checked += len(ranks)
        missing = [rank for rank in ranks if rank not in reached]
        if missing:
            seen = ", ".join(
                f"rank {rank} at version {last_seen[rank].version}"
                if rank in last_seen
                else f"rank {rank} never applied a root"
                for rank in missing
            )
            names = ", ".join(str(rank) for rank in missing)
            violations.append(
                Violation(
                    summary=f"rank{'s' if len(missing) > 1 else ''} {names} never reached "
                    f"version {final} of {ns} (last seen: {seen})",
                    roots=tuple(last_seen[rank] for rank in missing if rank in last_seen),
                )
            )
        if reached:
            last = max(reached.values(), key=lambda r: r.time)
            after = "" if created is None else f", {last.time - created:.6g} s after it was created"
            notes.append(
                f"{ns}: {len(reached)} of {len(ranks)} ranks reached version {final}; "
                f"the last, rank {last.rank}, at t={last.time:.6g}{after}"
            )
    return Verdict.of("convergence", checked, violations, notes)
