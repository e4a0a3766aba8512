"""``flux.constants`` for scripts run by ``kvs-sim exec``: see :mod:`kvs_sim.flux.constants`."""

from kvs_sim.flux import constants as _impl
from kvs_sim.flux.constants import *  # noqa: F403

__all__ = list(_impl.__all__)
