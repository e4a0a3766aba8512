"""A Flux-compatible client API: ``Flux`` handles and ``flux.kvs`` on a simulation.

Scripts written for Flux (``import flux, flux.kvs; h = flux.Flux();
flux.kvs.put(h, "a", 1); flux.kvs.commit(h)``) run against a simulated instance
through this package: ``kvs-sim exec script.py`` puts a shim package named
``flux`` (in ``kvs_sim/flux/shim``) first on ``sys.path`` that re-exports it.
Code that knows it runs in the simulator imports it directly::

    from kvs_sim.flux import Flux, kvs
    h = Flux(cluster=c, rank=3)

See :mod:`kvs_sim.flux.handle` for how ``Flux()`` picks its instance and
:mod:`kvs_sim.flux.kvs` for the API.
"""

from kvs_sim.flux import constants, eventlog, kvs
from kvs_sim.flux.handle import Flux

__all__ = ["Flux", "constants", "eventlog", "kvs"]
