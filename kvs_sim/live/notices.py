"""Overlay notices on live ranks: which ranks above a hosted rank are lost.

Theory of operation
-------------------
In a simulation the engine tells a follower :class:`~kvs_sim.rank.messages.PeerLost`
when a rank on its path to the leader crashes or a ``drop`` partition cuts it off,
and :class:`~kvs_sim.rank.messages.PeerBack` when that ends
(:mod:`kvs_sim.rank.recovery` then fails what waits upstream with
``EHOSTUNREACH``, or fetches the roots it missed).  Flux's overlay does the same
when a peer's connection breaks.  A live engine learns the same facts from three
retained or followed topics:

* **process statuses** (``kvs-sim/<c>/status/<client-id>``): a rank process
  publishes ``up`` when it connects, and its will (published by the broker the
  moment a killed process's socket closes) or a clean stop says ``down``.  A
  rank counts as down when the newest process hosting it (by the ``started``
  time in the status) says so, so a stale ``down`` left by a process that was
  replaced by another layout never keeps a rank lost;
* **in-process crashes**: a ``crash`` fault on the nemesis topic
  (:class:`~kvs_sim.live.faults.FaultFilter.crashed`);
* **drop partitions**: every rank below a cut link ``(parent, child)`` has lost
  ``parent`` (a ``hold`` partition is not a loss: its messages arrive at the heal).

:class:`Notices` keeps these facts and, for each hosted rank, the set of lost
ranks it was told about; :meth:`Notices.sync` tells each rank the difference
(``PeerLost`` for a newly lost rank, ``PeerBack`` for one that came back), at
once rather than queued behind its messages, as the simulator does.  Rank 0 is
never told (nothing is above it), and neither is a rank crashed in its process.
A restarted rank knows nothing (:meth:`Notices.forget`), and is told again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from kvs_sim.overlay import Overlay
from kvs_sim.rank.messages import PeerBack, PeerLost

Tell = Callable[[int, Any], None]
Later = Callable[[float, Callable[[], None]], Any]

DOWN_GRACE = 0.5
"""Seconds a process status must stay ``down`` before its ranks count as lost.
A broker that restarts may publish the restored sessions' wills before their
processes are back (each republishes ``up`` on reconnecting); like any failure
detector's timeout, the grace keeps that from reading as a crash.  A killed
process is reported lost this much later."""


class Notices:
    """The overlay notices of the ranks one process hosts (see the module doc)."""

    def __init__(
        self,
        overlay: Overlay,
        hosted: Iterable[int],
        own_status: str,
        tell: Tell,
        later: Later | None = None,
    ):
        self.overlay = overlay
        self.later = later
        """Schedules a confirmation of newly down ranks after :data:`DOWN_GRACE`
        (None: believe a ``down`` status at once)."""
        self._seen_down: frozenset[int] = frozenset()
        self.hosted = sorted(set(hosted))
        self._hosted_set = frozenset(self.hosted)  # up while this process is
        self.own_status = own_status
        self.tell = tell
        self.live = False
        """False until the hosted ranks are started (facts are kept meanwhile)."""
        self._ancestors = {r: tuple(overlay.ancestors(r)) for r in self.hosted}
        self._status: dict[str, tuple[float, str, tuple[int, ...]]] = {}
        self._down: frozenset[int] = frozenset()
        self._crashed: frozenset[int] = frozenset()
        self._cut: frozenset[tuple[int, int]] = frozenset()
        self._told: dict[int, set[int]] = {r: set() for r in self.hosted}
        self.stats = {"lost": 0, "back": 0}

    # -- facts ----------------------------------------------------------------------

    def status(self, topic: str, payload: bytes) -> None:
        """A process status (retained, or a will): recompute the ranks down."""
        if topic == self.own_status:
            return
        try:
            doc = json.loads(payload) if payload else {}
            state = str(doc.get("state", "down")) if payload else "gone"
            started = float(doc.get("started", 0.0))
            ranks = tuple(int(r) for r in doc.get("ranks", ()))
        except (ValueError, TypeError, AttributeError):
            return
        if state == "gone":
            self._status.pop(topic, None)
        else:
            self._status[topic] = (started, state, ranks)
        newest: dict[int, tuple[float, str]] = {}
        for started, state, ranks in self._status.values():
            for r in ranks:
                if r not in newest or started >= newest[r][0]:
                    newest[r] = (started, state)
        down = frozenset(
            r for r, (_, s) in newest.items() if s != "up" and r not in self._hosted_set
        )
        self._seen_down = down
        if self.later is not None and down - self._down:
            self.later(DOWN_GRACE, self._confirm)  # newly down: believed if it lasts
            down = down & self._down
        if down != self._down:
            self._down = down
            self.sync()

    def _confirm(self) -> None:
        """The grace is over: ranks still reported down are lost."""
        if self._seen_down != self._down:
            self._down = self._seen_down
            self.sync()

    def faults(self, crashed: frozenset[int], dropping: frozenset[tuple[int, int]]) -> None:
        """The nemesis state changed: in-process crashes and drop partitions."""
        if crashed != self._crashed or dropping != self._cut:
            self._crashed, self._cut = crashed, dropping
            self.sync()

    def lost_for(self, rank: int) -> set[int]:
        """The ranks ``rank`` should consider lost now."""
        anc = self._ancestors.get(rank, ())
        out = {a for a in anc if a in self._down or a in self._crashed}
        for p, c in self._cut:
            if c == rank or c in anc:
                out.add(p)
        return out

    # -- telling ----------------------------------------------------------------------

    def forget(self, rank: int) -> None:
        """``rank`` was rebuilt: it knows of no lost peer."""
        self._told[rank] = set()

    def sync(self) -> None:
        """Tell every hosted rank what changed since it was last told."""
        if not self.live:
            return
        for d in self.hosted:
            if d == 0 or d in self._crashed:
                continue
            want = self.lost_for(d)
            had = self._told[d]
            if want == had:
                continue
            self._told[d] = want
            for a in sorted(want - had):
                self.stats["lost"] += 1
                self.tell(d, PeerLost(rank=a))
            for a in sorted(had - want):
                self.stats["back"] += 1
                self.tell(d, PeerBack(rank=a))
