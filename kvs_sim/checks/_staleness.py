"""Staleness bounds: k-staleness and t-visibility (Delta-atomicity), as claims and metrics.

Theory of operation
-------------------
For a read of key k served from version v (kvs-sim records the version), the
value read was written by the last commit touching k at a version <= v (or is the
initial one).  The *newer* commits are those touching k at a higher version that
had **completed before the read was invoked**: the read could not have been
expected to miss them.  Two measures per read follow:

* **versions behind** (k-staleness, after Aiyer, Alvisi and Bazzi's k-atomicity):
  how many newer commits it missed; 0 is a fresh read;
* **time behind** (t-visibility, Delta-atomicity after Golab et al.): how long
  before the read was invoked the first newer commit had completed; 0 when none.

The claims ``k-staleness<=K`` (K an integer) and ``t-visibility<=T`` (T a
duration: ``5ms``, ``250us``, ``0.002`` seconds) fail on each read beyond the
bound.  Commits that failed are not writes; commits of unknown outcome and reads
without a version are left out (histories from other systems have no versions,
so these claims have nothing to check there).  Metrics: the same two numbers per
read, by rank and by depth (:func:`key_staleness`).

Both are computed in O(n log n) per key: reads sorted by invocation, commits by
completion, a Fenwick tree over version rank counts the missed commits, and a
suffix minimum gives the earliest newer completion.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from typing import Any

from kvs_sim.checks._common import (
    Verdict,
    Violation,
    effect,
    is_read,
    norm_key,
    prefixes,
    show_read,
)
from kvs_sim.history import History, Op

CLAIM = re.compile(r"^(k-staleness|t-visibility)<=(\S+)$")


def parse_claim(claim: str) -> tuple[str, float] | None:
    """``("k-staleness", 2.0)`` for ``"k-staleness<=2"``; None if not a staleness claim.

    Raises ValueError naming the claim when the bound is not valid."""
    m = CLAIM.match(claim)
    if m is None:
        return None
    name, bound = m.groups()
    if name == "k-staleness":
        if not bound.isdigit():
            raise ValueError(f"claim {claim!r}: the bound must be a whole number of versions")
        return name, float(bound)
    from kvs_sim.sim.latency import parse_duration

    try:
        seconds = float(bound) if re.fullmatch(r"[0-9.]+", bound) else parse_duration(bound)
    except ValueError as e:
        raise ValueError(f"claim {claim!r}: {e}") from None
    if not seconds >= 0:
        raise ValueError(f"claim {claim!r}: the bound must be a duration >= 0")
    return name, float(seconds)


def _reads_with_lag(history: History) -> list[tuple[Op, int, float, Op | None]]:
    """(read, versions behind, seconds behind, first newer commit) for every read."""
    by_key: dict[tuple[str, str], list[Op]] = defaultdict(list)
    commits: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for o in history.ops:
        if is_read(o) and o.key is not None:
            by_key[(o.ns, norm_key(o.key))].append(o)
    written: dict[tuple[str, str], list[Op]] = defaultdict(list)
    for o in history.ops:
        if o.op == "commit" and o.ok and o.version is not None and o.complete is not None:
            for raw in o.writes or {}:
                written[(o.ns, norm_key(raw))].append(o)
    out: list[tuple[Op, int, float, Op | None]] = []
    for (ns, key), reads in by_key.items():
        seen: dict[int, Op] = {}
        for p in prefixes(key):
            seen.update((c.id, c) for c in written.get((ns, p), ()))
        for (ns2, w), cs in written.items():
            if ns2 == ns and w.startswith(key + "."):
                seen.update((c.id, c) for c in cs)
        cs = sorted((c for c in seen.values() if effect(c, key) is not None), key=_version)
        commits[(ns, key)] = cs
        out.extend(_lags(reads, cs))
    return out


def _version(o: Op) -> int:
    assert o.version is not None
    return o.version


def _lags(reads: list[Op], cs: list[Op]) -> list[tuple[Op, int, float, Op | None]]:
    versions = [_version(c) for c in cs]
    n = len(cs)
    tree = [0] * (n + 1)  # Fenwick tree: completed commits by version index

    def add(i: int) -> None:
        i += 1
        while i <= n:
            tree[i] += 1
            i += i & -i

    def upto(i: int) -> int:  # commits completed among indexes < i
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    # suffix minimum of completion time, with the commit
    best: list[Op | None] = [None] * (n + 1)
    for i in range(n - 1, -1, -1):
        nxt = best[i + 1]
        c = cs[i]
        best[i] = c if nxt is None or (c.complete or 0) <= (nxt.complete or 0) else nxt
    by_done = sorted(range(n), key=lambda i: cs[i].complete or 0.0)
    j = 0
    out = []
    for r in sorted(reads, key=lambda o: o.invoke):
        while j < n and (cs[by_done[j]].complete or 0.0) < r.invoke:
            add(by_done[j])
            j += 1
        assert r.version is not None
        i = bisect_right(versions, r.version)  # commits at index >= i are newer
        behind = j - upto(i)
        first = best[i]
        late = 0.0
        if behind and first is not None and first.complete is not None:
            late = r.invoke - first.complete
        out.append((r, behind, late, first if behind else None))
    return out


def check_staleness(history: History, name: str, bound: float) -> Verdict:
    """The verdict on the claim ``{name}<={bound}`` (see the module docstring)."""
    label = f"{name}<={int(bound) if name == 'k-staleness' else _show_seconds(bound)}"
    violations = []
    checked = 0
    for r, behind, late, first in _reads_with_lag(history):
        checked += 1
        over = behind > bound if name == "k-staleness" else late > bound
        if not over or first is None:
            continue
        what = (
            f"{behind} newer commit{'s' if behind != 1 else ''} of {r.key} had completed"
            if name == "k-staleness"
            else f"{first.process}'s commit of {r.key} at version {first.version} had completed "
            f"{_show_seconds(late)} earlier"
        )
        violations.append(
            Violation(
                summary=f"{show_read(r)}, but {what} when the read began (bound {label})",
                ops=(first.id, r.id),
            )
        )
    return Verdict.of(label, checked, violations)


def _show_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:g}s"
    if s >= 1e-3:
        return f"{s * 1e3:g}ms"
    return f"{s * 1e6:g}us"


def key_staleness(history: History, depths: dict[int, int]) -> dict[str, Any]:
    """Versions and seconds behind per read, overall, by depth and by rank."""
    from kvs_sim.metrics._compute import summarize

    rows: list[dict[str, Any]] = [
        {
            "rank": r.rank,
            "depth": depths.get(r.rank),
            "versions": behind,
            "seconds": late,
        }
        for r, behind, late, _ in _reads_with_lag(history)
    ]
    out: dict[str, Any] = {"samples": rows}
    for measure in ("versions", "seconds"):
        groups: dict[str, dict[Any, list[float]]] = {"depth": defaultdict(list)}
        groups["rank"] = defaultdict(list)
        for row in rows:
            groups["rank"][row["rank"]].append(row[measure])
            if row["depth"] is not None:
                groups["depth"][row["depth"]].append(row[measure])
        out[measure] = {
            "all": summarize(row[measure] for row in rows),
            "by_depth": [{"depth": d, **summarize(v)} for d, v in sorted(groups["depth"].items())],
            "by_rank": [{"rank": k, **summarize(v)} for k, v in sorted(groups["rank"].items())],
        }
    return out
