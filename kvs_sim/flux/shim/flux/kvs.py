"""``flux.kvs`` for scripts run by ``kvs-sim exec``: see :mod:`kvs_sim.flux.kvs`."""

from kvs_sim.flux import kvs as _impl
from kvs_sim.flux.kvs import *  # noqa: F403

__all__ = list(_impl.__all__)
