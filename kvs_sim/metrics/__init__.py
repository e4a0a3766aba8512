"""Metrics over a history: propagation, staleness, commit latency, merging, convergence.

Pure functions from a :class:`~kvs_sim.history.History` to plain Python data for
notebooks; :func:`render_tables` shows them in a terminal.  See
:mod:`kvs_sim.metrics._compute` for what each measures, and
:mod:`kvs_sim.metrics._visibility` for t-visibility and k-staleness (PBS).
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
from kvs_sim.metrics._visibility import (
    K_GRID,
    T_GRID,
    k_staleness,
    t_visibility,
    visibility_delays,
)

__all__ = [
    "K_GRID",
    "T_GRID",
    "commit_latency",
    "compute_metrics",
    "convergence_times",
    "k_staleness",
    "merge_ratio",
    "propagation_latency",
    "rank_depths",
    "read_staleness_time",
    "read_staleness_versions",
    "render_tables",
    "summarize",
    "t_visibility",
    "visibility_delays",
]
