"""Nemeses inside a live rank process: partitions, setroot pauses, slow ranks,
latency spikes and loss, applied where messages enter the process.

Theory of operation
-------------------
Whoever inflicts faults on a live cluster (``kvs-sim nemesis``, ``kvs-sim run
--live``) publishes the whole set of active ones, retained, on
``kvs-sim/<cluster>/nemesis`` (:func:`encode_state`)::

    {"v": 1, "state": "3f9a.../7", "active": [{"id": "n3", "name": "partition",
                                              "links": [[1, 3]], "mode": "hold"}, ...]}

Every rank process subscribes to it and hands each payload to its
:class:`FaultFilter`, which replaces its active set (state, not commands: a
process that starts or restarts later gets the current faults from the retained
message, and applying the same state twice changes nothing).  ``state`` names
the payload (its controller and a counter); once a process applied it, its
retained status says so (``"nemesis": state``), which is how a controller knows
a fault is in effect everywhere before it lets anything happen that the fault
should see (:meth:`kvs_sim.live.nemesis.Control.applied`).

The engine asks the filter at two points, and the filter either lets the
message through (returns False) or takes it (True), holding it, dropping it or
delaying it, and later calls the ``again`` callback it was given to re-inject it
exactly where it was stopped:

* :meth:`FaultFilter.crossing` -- a message moving from rank ``prev`` to rank
  ``hop`` on a tree link (a routed hop, or a tree event from a parent; broker
  events count as crossing every link between rank 0 and the receiver).  A
  ``partition`` holds (``mode="hold"``, released in order at the heal) or drops
  (``"drop"``: the ranks' request retry recovers) messages on its cut links; a
  ``spike`` delays them by ``extra`` seconds; ``loss`` drops setroot events on
  its links (None: every link) with probability ``rate``.
* :meth:`FaultFilter.arriving` -- a message about to be handled by a hosted
  rank.  ``pause`` holds setroot events for the rank (Flux's setroot pause; the
  rank's children still get theirs) and releases them in order; ``slow`` makes
  the rank's service time ``factor`` times the *modelled* one: after each
  message the rank stays busy for ``(factor - 1)`` times the service time the
  simulator charges for it (what the rank passed to ``Port.work`` while
  handling it, from :class:`~kvs_sim.rank.config.ServiceTimes`: a load served,
  a lookup, a commit...; read from :attr:`FaultFilter.service`), and the
  messages that arrive meanwhile wait in the rank's queue, in order.  The real
  handling time (tens of microseconds of Python) is small beside a broker hop;
  the model's is the same as in a simulation, so a slow rank delays its
  subtree live as it does there.

Two faults are not filtered here but kept for the engine, which calls
``on_change`` after every update: ``crash`` names ranks crashed *inside* their
process (a rank sharing its process with others; a rank alone in its process
crashes by SIGKILL instead, see :mod:`kvs_sim.live.nemesis`), which the hosting
engine takes down and rebuilds at the heal (:mod:`kvs_sim.live.incarnation`);
and the links a ``drop`` partition cuts (:attr:`FaultFilter.dropping`), which
every engine turns into overlay notices for the ranks cut off
(:mod:`kvs_sim.live.notices`), as Flux's overlay declares a peer lost.  Clients
are not partitioned from their rank.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kvs_sim.overlay import Overlay
from kvs_sim.rank.messages import SetRoot

log = logging.getLogger("kvs_sim.live")

FAULT_NAMES = ("partition", "pause", "slow", "spike", "loss", "crash")
"""Faults a rank process applies itself (``crash``: of one rank inside its process;
a rank alone in its process crashes by a signal to the process)."""

Again = Callable[[], None]


def nemesis_topic(cluster: str) -> str:
    """The retained topic carrying a cluster's active faults."""
    return f"kvs-sim/{cluster}/nemesis"


def encode_state(active: Iterable[Mapping[str, Any]], state: str | None = None) -> bytes:
    """The retained payload for the given active faults (dicts, see the module doc),
    named ``state``."""
    doc: dict[str, Any] = {"v": 1, "active": [dict(f) for f in active]}
    if state is not None:
        doc["state"] = state
    return json.dumps(doc).encode()


def _links(raw: Any) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in raw}


class FaultFilter:
    """The active faults of one rank process, and the messages they hold."""

    def __init__(self, overlay: Overlay, seed: int | None = None) -> None:
        self.overlay = overlay
        self.active = False
        """True when any fault is active or a slow rank is still busy (the
        engine's fast check)."""
        self._cut: dict[tuple[int, int], str] = {}  # link -> "hold" | "drop"
        self._spike: dict[tuple[int, int], float] = {}
        self._loss: list[tuple[set[tuple[int, int]] | None, float]] = []
        self._paused: set[int] = set()
        self._slow: dict[int, float] = {}
        self._held_links: dict[tuple[int, int], deque[Again]] = {}
        self._held_pause: dict[int, deque[Again]] = {}
        self._slow_queue: dict[int, deque[Again]] = {}
        self._busy: set[int] = set()
        self._passed: set[tuple[int, tuple[int, int]]] = set()
        self._rng = random.Random(seed)
        self.crashed: frozenset[int] = frozenset()
        """Ranks crashed inside their process (the engine hosting one takes it down)."""
        self.dropping: frozenset[tuple[int, int]] = frozenset()
        """Links (parent, child) a ``drop`` partition cuts."""
        self.on_change: Callable[[], None] | None = None
        """Called after every update (the engine's crashes and overlay notices)."""
        self.service: Callable[[int], float] = lambda rank: 0.0
        """The modelled service seconds a rank has charged so far (a meter; a
        slow rank stays busy ``factor - 1`` times the increase per message)."""
        self.stats = {"held": 0, "dropped": 0, "delayed": 0, "released": 0}
        self.state: str | None = None
        """The name of the nemesis state applied last (None: unnamed or none)."""

    # -- the control topic ----------------------------------------------------------

    def update_payload(self, payload: bytes) -> None:
        """A payload of the nemesis topic (an empty one: no faults)."""
        if not payload:
            self.state = None
            self.update([])
            return
        try:
            doc = json.loads(payload)
            if doc.get("v") != 1:
                raise ValueError(f"unsupported nemesis payload version {doc.get('v')!r}")
            state = doc.get("state")
            self.update(doc["active"])
            self.state = None if state is None else str(state)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignored a malformed nemesis state: %s", exc)

    def update(self, active: Iterable[Mapping[str, Any]]) -> None:
        """Make ``active`` the set of faults; release what no fault holds any more."""
        cut: dict[tuple[int, int], str] = {}
        spike: dict[tuple[int, int], float] = {}
        loss: list[tuple[set[tuple[int, int]] | None, float]] = []
        paused: set[int] = set()
        slow: dict[int, float] = {}
        crashed: set[int] = set()
        for f in active:
            name = f["name"]
            if name == "partition":
                mode = str(f.get("mode", "hold"))
                for link in _links(f["links"]):
                    if cut.get(link) != "drop":
                        cut[link] = mode
            elif name == "pause":
                paused.update(int(r) for r in f["ranks"])
            elif name == "slow":
                for r in f["ranks"]:
                    slow[int(r)] = max(1.0, float(f["factor"]))
            elif name == "spike":
                for link in _links(f["links"]):
                    spike[link] = spike.get(link, 0.0) + float(f["extra"])
            elif name == "loss":
                links = None if f.get("links") is None else _links(f["links"])
                loss.append((links, float(f["rate"])))
            elif name == "crash":
                crashed.update(int(r) for r in f["ranks"])
        self._cut, self._spike, self._loss = cut, spike, loss
        self._paused, self._slow = paused, slow
        self.crashed = frozenset(crashed)
        self.dropping = frozenset(k for k, mode in cut.items() if mode == "drop")
        self.active = bool(cut or spike or loss or paused or slow or self._busy)
        for link in [k for k in self._held_links if k not in cut]:
            self._release(self._held_links.pop(link))
        for rank in [r for r in self._held_pause if r not in paused]:
            self._release(self._held_pause.pop(rank))
        for rank in [r for r in self._slow_queue if r not in slow and r not in self._busy]:
            self._release(self._slow_queue.pop(rank))
        if self.on_change is not None:
            self.on_change()

    def _release(self, queue: deque[Again]) -> None:
        self.stats["released"] += len(queue)
        while queue:
            queue.popleft()()

    # -- the two interception points ---------------------------------------------------

    def link(self, a: int, b: int) -> tuple[int, int]:
        """The tree link between neighbours ``a`` and ``b`` as ``(parent, child)``."""
        return (a, b) if self.overlay.parent[b] == a else (b, a)

    def crossing(self, prev: int, hop: int, msg: Any, again: Again) -> bool:
        """``msg`` moves from ``prev`` to its neighbour ``hop``: True if taken."""
        if prev == hop or prev < 0:
            return False
        link = self.link(prev, hop)
        mode = self._cut.get(link)
        if mode == "drop":
            self.stats["dropped"] += 1
            return True
        if mode == "hold":
            self.stats["held"] += 1
            self._held_links.setdefault(link, deque()).append(again)
            return True
        if self._loss and isinstance(msg, SetRoot):
            for links, rate in self._loss:
                if (links is None or link in links) and self._rng.random() < rate:
                    self.stats["dropped"] += 1
                    return True
        extra = self._spike.get(link)
        if extra:
            key = (id(msg), link)
            if key in self._passed:  # back from its delay on this link
                self._passed.discard(key)
                return False
            self.stats["delayed"] += 1
            asyncio.get_running_loop().call_later(extra, self._after_delay, key, again)
            return True
        return False

    def _after_delay(self, key: tuple[int, tuple[int, int]], again: Again) -> None:
        self._passed.add(key)
        again()
        self._passed.discard(key)

    def crossing_path(self, src: int, dst: int, msg: Any, again: Again) -> bool:
        """A broker-fanned event from ``src`` to ``dst``: the first faulty link on
        the tree path takes it (``again`` re-checks the whole path)."""
        path = _tree_path(self.overlay, src, dst)
        return any(self.crossing(a, b, msg, again) for a, b in itertools.pairwise(path))

    def arriving(self, rank: int, msg: Any, handle: Again) -> bool:
        """``msg`` is about to be handled by ``rank``: True if taken."""
        if rank in self._paused and isinstance(msg, SetRoot):
            self.stats["held"] += 1
            self._held_pause.setdefault(rank, deque()).append(handle)
            return True
        queue = self._slow_queue.get(rank)
        if rank not in self._slow and not queue and rank not in self._busy:
            return False
        if queue is None:
            queue = self._slow_queue[rank] = deque()
        queue.append(handle)
        if rank not in self._busy:
            self._serve(rank)
        return True

    def _serve(self, rank: int) -> None:
        """Handle the slow rank's next message, then stay busy (factor - 1) times
        its modelled service time."""
        queue = self._slow_queue.get(rank)
        if not queue:
            self._busy.discard(rank)
            self._slow_queue.pop(rank, None)
            if not self._busy and rank not in self._slow:
                self.active = bool(
                    self._cut or self._spike or self._loss or self._paused or self._slow
                )
            return
        handle = queue.popleft()
        before = self.service(rank)
        handle()
        took = max(0.0, self.service(rank) - before)
        factor = self._slow.get(rank, 1.0)
        self._busy.add(rank)
        self.stats["delayed"] += 1
        self._rest(rank, time.monotonic() + (factor - 1.0) * took)

    def _rest(self, rank: int, until: float) -> None:
        """Serve ``rank``'s next message at ``until`` (monotonic seconds).  Timers
        are coarse (uvloop's fire sub-millisecond delays at once, asyncio's wait
        at least the epoll millisecond), so an early wake waits again."""
        left = until - time.monotonic()
        if left > 0.0:
            asyncio.get_running_loop().call_later(left, self._rest, rank, until)
        else:
            self._serve(rank)


def _tree_path(overlay: Overlay, src: int, dst: int) -> list[int]:
    """Ranks from ``src`` to ``dst`` on the tree, both included."""
    path = [src]
    r = src
    while r != dst:
        r = overlay.next_hop(r, dst)
        path.append(r)
    return path
