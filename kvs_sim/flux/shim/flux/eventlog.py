"""``flux.eventlog`` for scripts run by ``kvs-sim exec``: see :mod:`kvs_sim.flux.eventlog`."""

from kvs_sim.flux import eventlog as _impl
from kvs_sim.flux.eventlog import *  # noqa: F403

__all__ = list(_impl.__all__)
