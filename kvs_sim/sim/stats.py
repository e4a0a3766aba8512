"""What the engine counts, read back: queues, busy time, messages per link.

The counters themselves are kept where things happen (the loops, the Port methods,
:mod:`kvs_sim.sim.routing`, :mod:`kvs_sim.sim.events`); this mixin only reads
them.  They are exact whenever no rank is being handled: the hot loop adds its
``deliveries`` and ``events_processed`` in batches, and the methods below first
let lazy ranks take their setroots (:mod:`kvs_sim.sim.lazy`).  ``deliveries``
read from client code *during* a run counts those only once settled
(``Engine.settle()``); after a run it is exact.  ``events_processed`` counts heap
entries, so it is smaller when events were delivered lazily.
"""

from __future__ import annotations

from kvs_sim.sim import lazy
from kvs_sim.sim.routing import link_messages
from kvs_sim.sim.state import EngineState


class Counters(EngineState):
    """Read-only views of the engine's counters (part of ``Engine``)."""

    __slots__ = ()

    @property
    def pending_events(self) -> int:
        """Heap entries not yet processed (0 means idle)."""
        return len(self._heap)

    @property
    def open_clients(self) -> int:
        """Client ids still waiting for a final reply."""
        return len(self._clients)

    def busy_time(self) -> list[float]:
        """Total declared work per rank, in seconds."""
        lazy.settle(self, self._now)
        return list(self._busy_time)

    def queue_length(self, rank: int) -> int:
        """Messages waiting at ``rank`` (not counting the one being handled)."""
        lazy.settle(self, self._now)
        q = self._pending[rank]
        return 0 if q is None else len(q)

    def link_messages(self) -> dict[tuple[int, int], int]:
        """Messages (sends and events, lost ones included) per directed link ``(a, b)``
        that carried any; broker links use ``BROKER`` as an end."""
        lazy.settle(self, self._now)
        return link_messages(self)

    def __repr__(self) -> str:
        return (
            f"<Engine n={self._n} events={self.events} t={self._now:.9g} "
            f"queued={len(self._heap)} deliveries={self.deliveries}>"
        )
