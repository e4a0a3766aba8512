"""Metrics over a history: propagation, staleness, commit latency, merging, convergence.

Pure functions from a :class:`~kvs_sim.history.History` to plain Python data for
notebooks; :func:`render_tables` shows them in a terminal.  See
:mod:`kvs_sim.metrics._compute` for what each measures.
"""

from kvs_sim.metrics._compute import (
    commit_latency,
    compute_metrics,
    convergence_times,
    merge_ratio,
    propagation_latency,
    rank_depths,
    read_staleness_time,
    read_staleness_versions,
    summarize,
)
from kvs_sim.metrics._render import render_tables

__all__ = [
    "commit_latency",
    "compute_metrics",
    "convergence_times",
    "merge_ratio",
    "propagation_latency",
    "rank_depths",
    "read_staleness_time",
    "read_staleness_versions",
    "render_tables",
    "summarize",
]
