"""Plots of a run: propagation down the tree, staleness by depth, a space-time diagram.

Theory of operation
-------------------
Each ``plot_*`` function takes plain data (lists, dicts: no cluster, no history)
and writes one PNG, returning its path, so the plots can be tested on tiny
synthetic inputs and drawn from a saved history in a notebook.  The other
functions turn a :class:`~kvs_sim.history.History` into those inputs.

One module per plot, with the helpers that feed it: :mod:`.propagation` (a
version spreading down the overlay), :mod:`.staleness` (CDFs by tree depth) and
:mod:`.spacetime` (a Lamport diagram of the messages around one version);
:mod:`._common` holds what they share.  matplotlib (and networkx) are imported
only when a plot is drawn, so importing this package, or ``kvs_sim``, costs
nothing and plots work on a machine without a display.
"""

from kvs_sim.plots.propagation import applied_times, focus_version, plot_propagation, tree_layout
from kvs_sim.plots.spacetime import (
    BROKER,
    CLIENT,
    MESSAGE_LABELS,
    Delivery,
    client_marks,
    focus_lanes,
    focus_window,
    plot_spacetime,
    plot_spacetime_panels,
)
from kvs_sim.plots.staleness import DepthSamples, plot_staleness, read_ages, staleness_data

__all__ = [
    "BROKER",
    "CLIENT",
    "MESSAGE_LABELS",
    "Delivery",
    "DepthSamples",
    "applied_times",
    "client_marks",
    "focus_lanes",
    "focus_version",
    "focus_window",
    "plot_propagation",
    "plot_spacetime",
    "plot_spacetime_panels",
    "plot_staleness",
    "read_ages",
    "staleness_data",
    "tree_layout",
]
