"""Faults as first-class, seeded events: one model for both engines.

``Partition``, ``Crash``, ``Pause``, ``Slow``, ``Spike`` and ``Loss`` are frozen
records of a fault and its target; ``at(t, nemesis, duration)`` schedules one
("at t, for d") and a :class:`Schedule` orders many.  A scenario declares them in
a ``NEMESES`` list (entries from :func:`at`, or dicts read by :func:`from_spec`),
or a run asks for :func:`random_process`, drawn from the seed
(``kvs-sim run ... --nemesis partition,crash --nemesis-interval 0.5s``).
Nothing here touches a transport: the virtual-time engine applies them in
:mod:`kvs_sim.sim.faults`, the live engine in ``kvs_sim.live``.  What each one
does, and what Flux would do, is in ``docs/faults.md``.
"""

from kvs_sim.nemesis._model import (
    KINDS,
    MODES,
    Crash,
    Loss,
    Nemesis,
    Partition,
    Pause,
    Schedule,
    Scheduled,
    Slow,
    Spike,
    at,
    subtree,
)
from kvs_sim.nemesis._random import from_spec, parse_kinds, random_process

__all__ = [
    "KINDS",
    "MODES",
    "Crash",
    "Loss",
    "Nemesis",
    "Partition",
    "Pause",
    "Schedule",
    "Scheduled",
    "Slow",
    "Spike",
    "at",
    "from_spec",
    "parse_kinds",
    "random_process",
    "subtree",
]
