"""The discrete-event engine: ranks on a tree overlay in deterministic virtual time.

Public surface: :class:`Overlay` (the TBON), latency models and :class:`LinkModel`,
the :class:`Engine` that moves messages (it implements ``kvs_sim.rank.port.Port``),
and :class:`SimFuture` / :class:`Task` for ``async def`` client processes.
"""

from kvs_sim.overlay import Overlay
from kvs_sim.sim.engine import BROKER, CLIENT, Engine
from kvs_sim.sim.latency import (
    DEFAULT_LATENCY,
    Constant,
    Exponential,
    LinkModel,
    LogNormal,
    Uniform,
    parse_latency,
)
from kvs_sim.sim.process import CancelledError, InvalidStateError, SimFuture, Task

__all__ = [
    "BROKER",
    "CLIENT",
    "DEFAULT_LATENCY",
    "CancelledError",
    "Constant",
    "Engine",
    "Exponential",
    "InvalidStateError",
    "LinkModel",
    "LogNormal",
    "Overlay",
    "SimFuture",
    "Task",
    "Uniform",
    "parse_latency",
]
