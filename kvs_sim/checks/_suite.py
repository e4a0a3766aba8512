"""All checkers together: ``check_all``, the plain-text report and the rich table.

Theory of operation
-------------------
:data:`CHECKERS` maps each guarantee name (the names a history's header may list
in ``claims``) to its checker.  :func:`check_all` runs every one of them, claimed
or not, because an unclaimed guarantee that happens to hold or break is still
worth seeing (a scenario that shows eventual consistency *claims* little and
breaks a lot).  What decides success is :func:`violated_claims`: the claimed
guarantees whose verdict is a violation.  A claimed guarantee with nothing to
check (``held is None``) is not a failure, and a claim no checker knows is
reported by :func:`unknown_claims` (``kvs-sim check`` refuses such a history,
exit 2; scenarios refuse such a claim when loaded).

Two models stronger than Flux promises run too: ``linearizable`` (per key, with a
time budget per key: a key not decided in time makes the verdict unknown, which
:func:`undecided_claims` reports) and ``sequential`` (the version order as the
witness; without versions, a search with a time budget).  Claims with a bound,
``k-staleness<=K`` and ``t-visibility<=T`` (:mod:`kvs_sim.checks._staleness`),
are checked when claimed.

:func:`report` is the plain text the CLI prints (and what tests compare);
:func:`render_verdicts` is the same content as rich renderables for a terminal or
a notebook.  rich is imported only when rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from kvs_sim.checks._causal import check_causal
from kvs_sim.checks._common import Verdict, describe
from kvs_sim.checks._linear import DEFAULT_BUDGET, check_linearizable
from kvs_sim.checks._sequential import SEARCH_BUDGET, check_sequential
from kvs_sim.checks._session import (
    check_monotonic_reads,
    check_monotonic_writes,
    check_read_your_writes,
    check_writes_follow_reads,
)
from kvs_sim.checks._staleness import check_staleness, parse_claim
from kvs_sim.checks._state import check_convergence, check_read_validity
from kvs_sim.history import History

if TYPE_CHECKING:
    from rich.console import RenderableType

CHECKERS: dict[str, Callable[[History], Verdict]] = {
    "read-your-writes": check_read_your_writes,
    "monotonic-reads": check_monotonic_reads,
    "monotonic-writes": check_monotonic_writes,
    "writes-follow-reads": check_writes_follow_reads,
    "causal": check_causal,
    "read-validity": check_read_validity,
    "convergence": check_convergence,
    "linearizable": check_linearizable,
    "sequential": check_sequential,
}
"""Every guarantee this package checks, by the name used in ``claims``.

Claims with a bound (``k-staleness<=2``, ``t-visibility<=5ms``) are not listed:
:func:`claim_checker` knows them."""

BOUNDED_CLAIMS = ("k-staleness<=K", "t-visibility<=T")
"""The forms of claims with a bound (K versions, T a duration such as ``5ms``)."""


def claim_checker(claim: str) -> Callable[[History], Verdict] | None:
    """The checker of ``claim``, or None if no checker knows it.

    Raises ValueError for a bounded claim whose bound is invalid."""
    if claim in CHECKERS:
        return CHECKERS[claim]
    parsed = parse_claim(claim)
    if parsed is None:
        return None
    name, bound = parsed
    return lambda history: check_staleness(history, name, bound)


def claim_error(claim: str) -> str | None:
    """Why ``claim`` cannot be checked (one line), or None when it can."""
    try:
        if claim_checker(claim) is not None:
            return None
    except ValueError as e:
        return str(e)
    known = ", ".join([*CHECKERS, *BOUNDED_CLAIMS])
    return f"unknown claim {claim!r} (known: {known})"


MAX_SHOWN = 10
"""Violations listed per guarantee in a report; the rest are counted."""


def check_all(
    history: History, claims: Iterable[str] | None = None, budget: float | None = None
) -> list[Verdict]:
    """Every checker's verdict on ``history``, in :data:`CHECKERS` order, then the
    bounded claims among ``claims`` (default: the header's).  ``budget``: seconds
    per key for ``linearizable`` (default :data:`~kvs_sim.checks._linear.DEFAULT_BUDGET`)."""
    verdicts = [run_checker(name, history, budget) for name in CHECKERS]
    for claim in history.header.claims if claims is None else claims:
        if claim not in CHECKERS and claim_error(claim) is None:
            checker = claim_checker(claim)
            assert checker is not None
            verdicts.append(checker(history))
    return verdicts


def run_checker(name: str, history: History, budget: float | None = None) -> Verdict:
    """The verdict of the checker ``name`` (a key of :data:`CHECKERS`); the two that
    search (``linearizable``, ``sequential``) get ``budget`` seconds, or their default."""
    if name == "linearizable":
        return check_linearizable(history, budget or DEFAULT_BUDGET)
    if name == "sequential":
        return check_sequential(history, budget or SEARCH_BUDGET)
    return CHECKERS[name](history)


def violated_claims(verdicts: Iterable[Verdict], claims: Iterable[str]) -> list[str]:
    """The claimed guarantees that were violated, in claim order."""
    broken = {v.guarantee for v in verdicts if v.held is False}
    return [c for c in claims if c in broken]


def unknown_claims(claims: Iterable[str]) -> list[str]:
    """Claims no checker knows."""
    return [c for c in claims if claim_error(c) is not None]


def undecided_claims(verdicts: Iterable[Verdict], claims: Iterable[str]) -> list[str]:
    """The claimed guarantees not decided within the time budget, in claim order."""
    open_ = {v.guarantee for v in verdicts if v.held is None and v.unknown}
    return [c for c in claims if c in open_]


def _status(v: Verdict) -> str:
    if v.held is None and v.unknown:
        return "unknown"
    return {True: "held", False: "VIOLATED", None: "n/a"}[v.held]


def _cases(v: Verdict) -> str:
    if v.held is None and v.unknown:
        return f"{v.checked} decided, {len(v.unknown)} not within the time budget"
    if v.held is None:
        return "nothing to check"
    text = f"{v.checked} case{'s' if v.checked != 1 else ''}"
    if v.violations:
        n = len(v.violations)
        text += f", {n} violation{'s' if n != 1 else ''}"
    return text


def report(
    verdicts: Sequence[Verdict], claims: Iterable[str] = (), history: History | None = None
) -> str:
    """A plain-text report: each guarantee, its evidence, and the claims' outcome.

    With ``history`` each violation lists its evidence ops in full, one per line;
    without it, by id.
    """
    claims = list(claims)
    width = max([len(v.guarantee) for v in verdicts] + [10])
    ops = history.ops_by_id() if history is not None else {}
    lines: list[str] = []
    for v in verdicts:
        mark = " (claimed)" if v.guarantee in claims else ""
        lines.append(f"{v.guarantee:<{width}}  {_status(v):<8}  {_cases(v)}{mark}")
        for i, bad in enumerate(v.violations[:MAX_SHOWN], start=1):
            lines.append(f"  {i}. {bad.summary}")
            lines.extend(
                f"       {describe(ops[op_id])}" if op_id in ops else f"       op #{op_id}"
                for op_id in bad.ops
            )
            lines.extend(
                f"       rank {r.rank} root {r.ns} version {r.version} at t={r.time:g}"
                for r in bad.roots
            )
        if len(v.violations) > MAX_SHOWN:
            lines.append(f"  ... and {len(v.violations) - MAX_SHOWN} more")
        lines.extend(f"  note: {note}" for note in v.notes)
        lines.extend(f"  unknown: {u}" for u in v.unknown)
    lines.append("")
    lines.append(_conclusion(verdicts, claims))
    return "\n".join(lines)


def _conclusion(verdicts: Sequence[Verdict], claims: list[str]) -> str:
    parts = []
    for c in unknown_claims(claims):
        parts.append(f"claim {c!r} has no checker (not checked)")
    broken = violated_claims(verdicts, claims)
    known = [c for c in claims if claim_error(c) is None]
    undecided = undecided_claims(verdicts, claims)
    if not claims:
        parts.append("no guarantees claimed")
    elif broken:
        parts.append(
            f"{len(broken)} of {len(known)} claimed guarantee{'s' if len(known) != 1 else ''} "
            f"violated: {', '.join(broken)}"
        )
    elif undecided:
        parts.append(f"not decided within the time budget: {', '.join(undecided)}")
    elif known:
        parts.append(f"all {len(known)} claimed guarantee{'s' if len(known) != 1 else ''} held")
    return "; ".join(parts)


def render_verdicts(
    verdicts: Sequence[Verdict], claims: Iterable[str] = (), history: History | None = None
) -> list[RenderableType]:
    """The report as rich renderables: a summary table, then each violation."""
    from rich.table import Table
    from rich.text import Text

    claims = list(claims)
    table = Table(title="Guarantees", title_justify="left")
    table.add_column("guarantee")
    table.add_column("claimed", justify="center")
    table.add_column("result")
    table.add_column("cases", justify="right")
    table.add_column("violations", justify="right")
    style = {True: "green", False: "bold red", None: "dim"}
    for v in verdicts:
        table.add_row(
            v.guarantee,
            "yes" if v.guarantee in claims else "",
            Text(_status(v), style="yellow" if v.unknown and v.held is None else style[v.held]),
            str(v.checked),
            str(len(v.violations)),
        )
    out: list[RenderableType] = [table]
    ops = history.ops_by_id() if history is not None else {}
    for v in verdicts:
        for bad in v.violations[:MAX_SHOWN]:
            text = Text()
            text.append(f"{v.guarantee}: ", style="bold red")
            text.append(bad.summary)
            for op_id in bad.ops:
                text.append(f"\n    {describe(ops[op_id]) if op_id in ops else f'op #{op_id}'}")
            for r in bad.roots:
                text.append(f"\n    rank {r.rank} root {r.ns} version {r.version} at t={r.time:g}")
            out.append(text)
        if len(v.violations) > MAX_SHOWN:
            out.append(Text(f"{v.guarantee}: ... and {len(v.violations) - MAX_SHOWN} more"))
        out.extend(Text(f"{v.guarantee}: {note}", style="dim") for note in v.notes)
        out.extend(Text(f"{v.guarantee}: unknown: {u}", style="yellow") for u in v.unknown)
    conclusion = _conclusion(verdicts, claims)
    bad_claims = bool(violated_claims(verdicts, claims))
    out.append(Text(conclusion, style="bold red" if bad_claims else "bold green"))
    return out
