"""Session guarantees: read-your-writes, monotonic reads and writes, writes-follow-reads.

Theory of operation
-------------------
Each session guarantee relates one process's operations to its own earlier ones,
in program order (B comes after A when A completed before B was invoked).  All four
are checked the same way: walk each process's ops, and for every op that a
guarantee constrains (a *case*), find the earlier op that sets the strongest bound,
then compare versions.  The earlier op with the highest version is the whole
evidence, so a violation lists exactly two ops (two root records for a rank that
moved its root backwards).

What each one means here, and where Flux promises it:

* **read-your-writes**: after a process's commit completed on rank r, its reads of
  a key the commit touched, on r, are served from a version at least the commit's
  (``version``, not ``reported_version``), and return the commit's value or one
  written since.  Reads on other ranks are not covered: Flux does not promise it.
* **monotonic-reads**: a process's observations (reads, get_version) on one rank
  and namespace never go to a lower version; and every rank's root records only
  move forward, since that is what the guarantee rests on.
* **monotonic-writes**: a process's successive commits in one namespace produce
  increasing versions (the leader serialises commits of a namespace).
* **writes-follow-reads**: a commit invoked after the process observed version v
  (a read, get_version or completed wait_version) produces a version above v.

Under faults (:mod:`kvs_sim.checks._faults`) each leader epoch is judged on its
own and a process is not judged across a crash of its rank; a rank's root records
may start over after each of its crashes (a restarted rank rejoins cold).
"""

from __future__ import annotations

from collections import defaultdict

from kvs_sim.checks._common import (
    Latest,
    Verdict,
    Violation,
    canon,
    effect,
    is_observation,
    is_read,
    norm_key,
    prefixes,
    read_value,
    show_read,
    show_value,
    show_writes,
)
from kvs_sim.checks._faults import crash_starts, fault_aware
from kvs_sim.checks._state import ValueModel, value_matches
from kvs_sim.history import History, Op, RootEvent


@fault_aware
def check_read_your_writes(history: History) -> Verdict:
    """A process's reads on the rank it committed on see its completed commits."""
    model = ValueModel(history)
    checked = 0
    violations: list[Violation] = []
    for ops in history.processes().values():
        # this process's completed commits by (rank, ns, written key)
        index: dict[tuple[int, str, str], list[Op]] = defaultdict(list)
        for o in ops:
            if o.op == "commit" and o.ok and o.version is not None and o.complete is not None:
                for raw in o.writes or {}:
                    index[(o.rank, o.ns, norm_key(raw))].append(o)
        if not index:
            continue
        latest = {k: Latest(cs) for k, cs in index.items()}
        for r in ops:
            if not is_read(r) or r.key is None or r.version is None:
                continue
            key = norm_key(r.key)
            groups = [(r.rank, r.ns, k) for k in prefixes(key)]
            groups += [g for g in index if g[:2] == (r.rank, r.ns) and g[2].startswith(key + ".")]
            found = [latest[g].before(r) for g in groups if g in latest]
            mine = [c for c in found if c is not None and effect(c, key) is not None]
            if not mine:
                continue
            checked += 1
            c = max(mine, key=lambda o: (o.version or 0, o.complete or 0.0))
            assert c.version is not None
            own = (
                f"its own commit of {show_writes(c)} produced version {c.version} on rank {c.rank}"
            )
            if r.version < c.version:
                violations.append(
                    Violation(summary=f"{show_read(r)} after {own}", ops=(c.id, r.id))
                )
                continue
            allowed = model.between(r.ns, key, c.version, r.version) | model.maybe(r.ns, key)
            if not value_matches(read_value(r), allowed):
                got = show_value(canon(read_value(r)))
                violations.append(
                    Violation(
                        summary=f"{show_read(r)} after {own}, but no commit between versions "
                        f"{c.version} and {r.version} wrote {got} there",
                        ops=(c.id, r.id),
                    )
                )
    return Verdict.of("read-your-writes", checked, violations)


def _root_order(history: History) -> tuple[int, list[Violation]]:
    """Each rank's root records of a namespace, in time order, only move forward."""
    by_rank: dict[tuple[int, str, int], list[RootEvent]] = defaultdict(list)
    crashed = crash_starts(history)
    for root in history.roots:
        life = sum(1 for t in crashed.get(root.rank, ()) if t < root.time)
        by_rank[(root.rank, root.ns, life)].append(root)
    checked = 0
    violations = []
    for (rank, ns, _), roots in sorted(by_rank.items()):
        roots.sort(key=lambda r: r.time)
        best = roots[0]
        for cur in roots[1:]:
            checked += 1
            if cur.version < best.version:  # the same root again is not a step back
                violations.append(
                    Violation(
                        summary=f"rank {rank} applied version {cur.version} of {ns} at "
                        f"t={cur.time:g} after it had applied version {best.version} at "
                        f"t={best.time:g}: its root went backwards",
                        roots=(best, cur),
                    )
                )
            else:
                best = cur
    return checked, violations


@fault_aware
def check_monotonic_reads(history: History) -> Verdict:
    """A process's observations on one rank never go to a lower version."""
    checked, violations = _root_order(history)
    for ops in history.processes().values():
        groups: dict[tuple[int, str], list[Op]] = defaultdict(list)
        for o in ops:
            if is_observation(o):
                groups[(o.rank, o.ns)].append(o)
        for group in groups.values():
            latest = Latest(group)
            for o in group:
                prev = latest.before(o)
                if prev is None:
                    continue
                assert o.version is not None and prev.version is not None
                checked += 1
                if o.version < prev.version:
                    what = show_read(o) if is_read(o) else _show_version(o)
                    earlier = show_read(prev) if is_read(prev) else _show_version(prev)
                    violations.append(
                        Violation(
                            summary=f"{what} after it {earlier.split(' ', 1)[1]}",
                            ops=(prev.id, o.id),
                        )
                    )
    return Verdict.of("monotonic-reads", checked, violations)


def _show_version(o: Op) -> str:
    return f"{o.process} saw version {o.version} on rank {o.rank} (get_version)"


@fault_aware
def check_monotonic_writes(history: History) -> Verdict:
    """A process's successive commits in one namespace produce increasing versions."""
    checked = 0
    violations: list[Violation] = []
    for ops in history.processes().values():
        groups: dict[str, list[Op]] = defaultdict(list)
        for o in ops:
            if o.op == "commit" and o.version is not None:
                groups[o.ns].append(o)
        for group in groups.values():
            latest = Latest(group)
            for c in group:
                prev = latest.before(c)
                if prev is None:
                    continue
                assert c.version is not None and prev.version is not None
                checked += 1
                if c.version <= prev.version:
                    violations.append(
                        Violation(
                            summary=f"{c.process}'s commit of {show_writes(c)} produced version "
                            f"{c.version}, not above version {prev.version} of its earlier "
                            f"commit of {show_writes(prev)}",
                            ops=(prev.id, c.id),
                        )
                    )
    return Verdict.of("monotonic-writes", checked, violations)


def _saw(o: Op) -> bool:
    if o.op == "wait_version":
        return o.ok and o.version is not None and o.complete is not None
    return is_observation(o)


@fault_aware
def check_writes_follow_reads(history: History) -> Verdict:
    """A commit after an observation of version v produces a version above v."""
    checked = 0
    violations: list[Violation] = []
    for ops in history.processes().values():
        groups: dict[str, list[Op]] = defaultdict(list)
        for o in ops:
            if _saw(o) or (o.op == "commit" and o.version is not None):
                groups[o.ns].append(o)
        for group in groups.values():
            latest = Latest([o for o in group if _saw(o)])
            for c in group:
                if c.op != "commit":
                    continue
                prev = latest.before(c)
                if prev is None:
                    continue
                assert c.version is not None and prev.version is not None
                checked += 1
                if c.version <= prev.version:
                    seen = (
                        show_read(prev)
                        if is_read(prev)
                        else f"{prev.process} saw version {prev.version} on rank {prev.rank} "
                        f"({prev.op})"
                    )
                    violations.append(
                        Violation(
                            summary=f"{seen}, then its commit of {show_writes(c)} produced "
                            f"version {c.version}, not above {prev.version}",
                            ops=(prev.id, c.id),
                        )
                    )
    return Verdict.of("writes-follow-reads", checked, violations)
