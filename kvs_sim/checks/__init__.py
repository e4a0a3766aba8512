"""Checkers: pure functions from a history to a verdict on one guarantee.

Each checker takes a :class:`~kvs_sim.history.History` and returns a
:class:`Verdict` (held, violated, or nothing to check, with minimal evidence for
each violation).  :func:`check_all` runs them all; :func:`report` and
:func:`render_verdicts` present the result.  The guarantees and what each means
for Flux are described in the modules' docstrings and ``docs/history-format.md``.
"""

from kvs_sim.checks._causal import check_causal
from kvs_sim.checks._common import Verdict, Violation, describe, verdict_word
from kvs_sim.checks._linear import check_keys, check_linearizable
from kvs_sim.checks._sequential import check_sequential
from kvs_sim.checks._session import (
    check_monotonic_reads,
    check_monotonic_writes,
    check_read_your_writes,
    check_writes_follow_reads,
)
from kvs_sim.checks._staleness import check_staleness, key_staleness
from kvs_sim.checks._state import ValueModel, check_convergence, check_read_validity
from kvs_sim.checks._suite import (
    BOUNDED_CLAIMS,
    CHECKERS,
    check_all,
    claim_checker,
    claim_error,
    render_verdicts,
    report,
    run_checker,
    undecided_claims,
    unknown_claims,
    violated_claims,
)

__all__ = [
    "BOUNDED_CLAIMS",
    "CHECKERS",
    "ValueModel",
    "Verdict",
    "Violation",
    "check_all",
    "check_causal",
    "check_convergence",
    "check_keys",
    "check_linearizable",
    "check_monotonic_reads",
    "check_monotonic_writes",
    "check_read_validity",
    "check_read_your_writes",
    "check_sequential",
    "check_staleness",
    "check_writes_follow_reads",
    "claim_checker",
    "claim_error",
    "describe",
    "key_staleness",
    "render_verdicts",
    "report",
    "run_checker",
    "undecided_claims",
    "unknown_claims",
    "verdict_word",
    "violated_claims",
]
