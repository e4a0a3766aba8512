"""``flux`` as seen by a script run with ``kvs-sim exec``: the simulator's API.

This directory is put first on ``sys.path`` by ``kvs-sim exec`` only; it is not
installed as a top-level package, so it never hides a real Flux installation.
"""

from kvs_sim.flux import Flux

from . import constants, eventlog, kvs

__all__ = ["Flux", "constants", "eventlog", "kvs"]
