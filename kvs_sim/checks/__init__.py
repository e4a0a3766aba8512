"""Checkers: pure functions from a history to a verdict on one guarantee.

Each checker takes a :class:`~kvs_sim.history.History` and returns a
:class:`Verdict` (held, violated, or nothing to check, with minimal evidence for
each violation).  :func:`check_all` runs them all; :func:`report` and
:func:`render_verdicts` present the result.  The guarantees and what each means
for Flux are described in the modules' docstrings and ``docs/history-format.md``.
"""

from kvs_sim.checks._causal import check_causal
from kvs_sim.checks._common import Verdict, Violation, describe
from kvs_sim.checks._session import (
    check_monotonic_reads,
    check_monotonic_writes,
    check_read_your_writes,
    check_writes_follow_reads,
)
from kvs_sim.checks._state import ValueModel, check_convergence, check_read_validity
from kvs_sim.checks._suite import (
    CHECKERS,
    check_all,
    render_verdicts,
    report,
    unknown_claims,
    violated_claims,
)

__all__ = [
    "CHECKERS",
    "ValueModel",
    "Verdict",
    "Violation",
    "check_all",
    "check_causal",
    "check_convergence",
    "check_monotonic_reads",
    "check_monotonic_writes",
    "check_read_validity",
    "check_read_your_writes",
    "check_writes_follow_reads",
    "describe",
    "render_verdicts",
    "report",
    "unknown_claims",
    "violated_claims",
]
