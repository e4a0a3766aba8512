"""The engine's state and the primitives every path through it shares.

Theory of operation
-------------------
:class:`EngineState` holds everything the virtual-time engine knows, in slots, and
the few steps that both the inlined hot loop (:mod:`kvs_sim.sim.loop`) and the
plain path (``Engine.step`` and the fan-out functions of :mod:`kvs_sim.sim.events`)
take: hand a message to a rank (:meth:`~EngineState._handle`), deliver or queue it
(:meth:`~EngineState._arrive`, :meth:`~EngineState._enqueue`), take a queued
message or run client code (:meth:`~EngineState._slow`), and push heap entries.
The public classes build on it: :class:`~kvs_sim.sim.engine.Engine` (the ``Port``
ranks use), :class:`~kvs_sim.sim.clients.ClientAPI` (requests, scheduled calls,
processes, driving the clock) and :class:`~kvs_sim.sim.stats.Counters`.

The heap.  One heap of plain tuples ``(time, seq, code, msg)``.  ``seq`` is a
global counter, so ties break first-in-first-out and a run is a pure function of
its inputs and the ``random.Random`` passed in (the only source of randomness).
``code`` says what the entry is, with ``n`` ranks:

* ``0 <= code < n``: message ``msg`` arrives at rank ``code`` (point-to-point,
  timer, client request, or an event in broker mode);
* ``n <= code < 2n``: event ``msg`` arrives at rank ``code - n`` in tree mode.  The
  engine forwards it to that rank's children at once, busy or not, then queues it
  for the rank like a message;
* ``2n <= code < 3n``: the same, for every child of rank ``code - 2n`` at once
  (fixed latency: one heap entry per *forwarding* rank);
* ``3n <= code < 4n``: rank ``code - 3n`` finished its work: take its next message;
* ``code == 4n``: ``msg`` is a :class:`Callback`: client code (``call_at``, process
  steps, replies to clients), run outside any rank context.

Service time.  A rank handles one message at a time.  While handling, the rank
declares cost with ``Engine.work``; whatever it sends *after* declaring work leaves
at ``now + work so far`` (so ranks declare work before sending), and the rank takes
its next message at ``now + total work`` (``_busy[r]``).  A message that arrives
while the rank is busy, or while older messages wait (``_pending[r]``, a deque
created on first need), joins the rank's FIFO, and one ``3n + r`` entry says when
the rank is free to take the next one.

The source of a message is kept (in ``_srcs``, by ``seq``) only when a tracer is
set; nothing else needs it.
"""

from __future__ import annotations

import itertools
import math
import random
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappush
from typing import Any

from kvs_sim.overlay import Overlay
from kvs_sim.sim import lazy
from kvs_sim.sim.latency import Constant, LinkModel
from kvs_sim.sim.settle import Run

CLIENT = -1
"""Source (or destination) rank reported to the tracer for a client."""

BROKER = -2
"""The central event broker, as a link end and as a tracer source (broker mode)."""

Tracer = Callable[[float, int, int, Any], Any]

Gate = Callable[[float, int, int, int, Any], bool]
"""``gate(time, seq, code, rank, msg)``: whether an arrival at ``rank`` goes on
(False: the fault layer dropped or held it).  ``code`` is the heap code that
re-delivers it (``rank`` for a message, ``n + rank`` for a tree event)."""


class Callback:
    """Client code scheduled on the engine; ``cancel()`` before it runs to drop it."""

    __slots__ = ("args", "cancelled", "fn")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EngineState:
    """Slots and shared primitives of the engine; see the module docstring.

    Construct :class:`~kvs_sim.sim.engine.Engine`, which documents the arguments."""

    __slots__ = (
        "_bk_last",
        "_broker_cost",
        "_broker_free",
        "_busy",
        "_busy_time",
        "_cb",
        "_children",
        "_cids",
        "_client_latency",
        "_clients",
        "_const",
        "_copy_cost",
        "_cur",
        "_down",
        "_ev_fwd",
        "_ev_last",
        "_from_broker",
        "_fwd",
        "_gate",
        "_handlers",
        "_heap",
        "_hop_cost",
        "_links",
        "_lz",
        "_lz_act",
        "_lz_depth",
        "_lz_due",
        "_lz_flag",
        "_lz_held",
        "_lz_ix",
        "_lz_lo",
        "_lz_log",
        "_lz_next",
        "_lz_pos",
        "_lz_rec",
        "_lz_size",
        "_lz_span",
        "_lz_sums",
        "_lz_tops",
        "_lz_want",
        "_n",
        "_next",
        "_now",
        "_pair_last",
        "_parent",
        "_pending",
        "_plain",
        "_ranks",
        "_rng",
        "_running",
        "_sample",
        "_srcs",
        "_started",
        "_stop",
        "_to_broker",
        "_tracer",
        "_up",
        "_work",
        "deliveries",
        "events",
        "events_lost",
        "events_processed",
        "on_publish",
        "overlay",
        "replies_dropped",
    )

    def __init__(
        self,
        overlay: Overlay,
        *,
        links: LinkModel | None = None,
        rng: random.Random,
        events: str = "tree",
        broker_cost: float = 2e-6,
        hop_cost: float = 5e-6,
        client_latency: float = 37.5e-6,
        forward_cost: float = 0.0,
        tracer: Tracer | None = None,
        lazy: bool = True,
    ) -> None:
        if events not in ("tree", "broker"):
            raise ValueError(f"events must be 'tree' or 'broker', not {events!r}")
        if not isinstance(rng, random.Random):
            raise ValueError(f"rng must be a random.Random, not {rng!r}")
        for name, value in (
            ("broker_cost", broker_cost),
            ("hop_cost", hop_cost),
            ("client_latency", client_latency),
            ("forward_cost", forward_cost),
        ):
            if not (isinstance(value, int | float) and 0 <= value < math.inf):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
        links = LinkModel() if links is None else links
        n = overlay.size
        for a, b in links.overrides:
            ok_rank = 0 <= a < n and 0 <= b < n
            tree_link = ok_rank and (overlay.parent[a] == b or overlay.parent[b] == a)
            broker_link = events == "broker" and BROKER in (a, b) and max(a, b) in range(n)
            if not (tree_link or broker_link):
                raise ValueError(f"link override {(a, b)} is not a link of the overlay")
        self.overlay = overlay
        self.events = events
        self._links = links
        self._rng = rng
        self._n = n
        self._parent = overlay.parent
        self._children = overlay.children
        self._broker_cost = float(broker_cost)
        self._copy_cost = float(forward_cost)
        self._hop_cost = float(hop_cost)
        self._client_latency = float(client_latency)
        self._tracer = tracer
        self.on_publish: Callable[[float, int, Any], Any] | None = None
        """Observer of every published event ``(time it leaves, publisher, msg)``."""
        self._heap: list[tuple[float, int, int, Any]] = []
        self._next = itertools.count().__next__
        self._now = 0.0
        self._cur = -1
        self._work = 0.0
        self._cb = 4 * n
        self._handlers: list[Callable[[Any], Any]] = []
        self._ranks: Sequence[Any] = ()
        self._busy = [0.0] * n
        self._busy_time = [0.0] * n
        self._pending: list[deque[Any] | None] = [None] * n
        self._up = [0] * n  # messages child -> parent, indexed by child
        self._down = [0] * n  # messages parent -> child, indexed by child
        self._ev_fwd = [0] * n  # events sent by r to *each* of its children (fixed latency)
        self._to_broker = [0] * n if events == "broker" else []
        self._from_broker = [0] * n if events == "broker" else []
        self._broker_free = 0.0
        # A fixed per-hop delay when every link is the same Constant: lets the hot
        # paths skip sampling, and (with no loss) inline event forwarding.
        default = links.default
        plain = isinstance(default, Constant) and not links.overrides
        self._const: float | None = default.delay if plain else None  # type: ignore[union-attr]
        self._sample = default.sample if not links.overrides else None
        self._fwd: float | None = (
            self._hop_cost + self._const if self._const is not None and not links.loss else None
        )
        ordered = not links.constant
        tree = events == "tree"
        self._ev_last: list[float] | None = [0.0] * n if ordered and tree else None
        self._bk_last: list[float] | None = [0.0] * (2 * n) if ordered and not tree else None
        self._pair_last: dict[int, float] | None = {} if ordered else None
        self._clients: dict[int, tuple[int, Callable[[Any], Any]]] = {}
        self._cids = itertools.count(1)
        self._srcs: dict[int, int] = {}
        self.deliveries = 0
        """Message arrivals at ranks (events, requests, timers included)."""
        self.events_processed = 0
        """Heap entries processed."""
        self.events_lost = 0
        """Event copies dropped by ``LinkModel.loss``."""
        self.replies_dropped = 0
        """Replies to client ids the engine did not know (or no longer knew)."""
        self._stop = False
        self._running = False
        self._started = False
        self._plain = False
        self._lz_want = bool(lazy)
        self._lz = False
        """Lazy delivery to idle subtrees is on (:mod:`kvs_sim.sim.lazy`, set up at
        ``start()``, which sizes the per-rank ``_lz_*`` arrays)."""
        self._lz_pos: list[int] = []  # per rank: first event index not taken; -1 eager
        self._lz_act: array[int] = array("i")  # per rank: ranks of its subtree not quiet
        self._lz_flag = bytearray()  # per rank: 1 if not quiet (counted in _lz_act)
        self._lz_rec: dict[int, Run] = {}  # lazy rank -> its records
        self._lz_tops: set[int] = set()  # lazy ranks with an eager parent
        self._lz_ix: dict[int, int] = {}  # id(event) -> index
        self._lz_log: deque[tuple[float, Any]] = deque()  # (publish time, event) by index
        self._lz_lo = self._lz_next = self._lz_size = 0
        self._lz_due = math.inf  # earliest arrival of a record not yet taken
        self._lz_span = 0.0  # bound of an event's travel time to any rank
        self._lz_depth = 1  # bound of the levels from a top to any rank below
        self._lz_sums: dict[tuple[float, float, int], float] = {}  # settle.take's sums
        self._lz_held: list[int] = []  # lazy ranks a settle found busy with events waiting
        self._gate: Gate | None = None
        """Fault injection's look at each arrival on the plain path (see
        :mod:`kvs_sim.sim.loop`); None while no fault is active."""

    # ------------------------------------------------------------------ ranks

    def _handle(self, r: int, fn: Callable[[Any], Any], msg: Any, t: float) -> None:
        """Rank ``r`` takes ``msg`` at ``t`` (through ``fn``); it is busy for the
        work it declares."""
        self._cur = r
        self._now = t
        self._work = 0.0
        try:
            fn(msg)
        finally:
            self._cur = -1
        w = self._work
        if w:
            self._busy[r] = t + w
            self._busy_time[r] += w

    def _arrive(self, t: float, src: int, r: int, msg: Any) -> None:
        """``msg`` from ``src`` arrives at rank ``r``: traced, then handled or queued."""
        self.deliveries += 1
        if self._tracer is not None:
            self._tracer(t, src, r, msg)
        if self._lz and self._lz_pos[r] >= 0:
            lazy.activate(self, r, t)
        if self._busy[r] <= t and self._pending[r] is None:
            self._handle(r, self._handlers[r], msg, t)
        else:
            self._enqueue(t, r, msg)
        if self._lz and r:
            lazy.note(self, r)

    def _enqueue(self, t: float, r: int, msg: Any) -> None:
        """Queue ``msg`` at busy rank ``r``; the first one schedules the rank's turn."""
        self._now = t
        q = self._pending[r]
        if q is None and self._lz and r and self._lz_pos[r] >= 0:
            lazy.activate(self, r, t)  # events it would queue behind this one
            q = self._pending[r]
        if q is None:
            q = self._pending[r] = deque()
            b = self._busy[r]
            heappush(self._heap, (b if b > t else t, self._next(), 3 * self._n + r, None))
            if self._lz and r:
                lazy.note(self, r)  # a rank with a queue is not quiet
        q.append(msg)

    def _slow(self, t: float, code: int, msg: Any) -> None:
        """The rare heap entries: a rank is free again (code ``3n + r``) or client
        code runs (``4n``)."""
        if code < self._cb:  # a rank is free: take its next queued message
            r = code - 3 * self._n
            q = self._pending[r]
            assert q is not None
            head = q.popleft()
            if not q:
                self._pending[r] = None
            self._handle(r, self._handlers[r], head, t)
            if q:
                b = self._busy[r]
                heappush(self._heap, (b if b > t else t, self._next(), code, None))
            elif self._lz and r:
                lazy.note(self, r)
        elif not msg.cancelled:
            self._now = t
            self._cur = -1
            msg.fn(*msg.args)

    # ------------------------------------------------------------------ heap

    def _push_msg(self, t: float, src: int, dst: int, msg: Any) -> None:
        seq = self._next()
        heappush(self._heap, (t, seq, dst, msg))
        if self._tracer is not None:
            self._srcs[seq] = src

    def _call(self, t: float, fn: Callable[..., Any], *args: Any) -> None:
        heappush(self._heap, (t, self._next(), self._cb, Callback(fn, args)))
