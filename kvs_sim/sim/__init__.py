"""The discrete-event engine: ranks on a tree overlay in deterministic virtual time.

Public surface: :class:`Overlay` (the TBON), latency models and :class:`LinkModel`,
and (in :mod:`kvs_sim.sim.engine`) the :class:`Engine` that moves messages.
"""

from kvs_sim.sim.latency import (
    DEFAULT_LATENCY,
    Constant,
    Exponential,
    LinkModel,
    LogNormal,
    Uniform,
    parse_latency,
)
from kvs_sim.sim.overlay import Overlay

__all__ = [
    "DEFAULT_LATENCY",
    "Constant",
    "Exponential",
    "LinkModel",
    "LogNormal",
    "Overlay",
    "Uniform",
    "parse_latency",
]
