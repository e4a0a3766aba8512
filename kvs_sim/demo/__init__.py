"""Teaching demos: short narrated stories in the terminal (``kvs-sim demo``).

:mod:`._narrate` holds the :class:`Narrator` (steps, the tree of versions,
pauses); :mod:`.catalog` the demos themselves, each a function of a narrator and a
seed that returns its findings as plain data.
"""

from kvs_sim.demo._narrate import Narrator
from kvs_sim.demo.catalog import DEMOS

__all__ = ["DEMOS", "Narrator"]
