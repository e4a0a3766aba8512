"""The virtual-time engine: moves messages between ranks; decides nothing.

Theory of operation
-------------------
One heap of plain tuples ``(time, seq, code, msg)``.  ``seq`` is a global counter,
so ties break first-in-first-out and a run is a pure function of its inputs and
the ``random.Random`` passed in (the only source of randomness).  ``code`` says
what the entry is, with ``n`` ranks:

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
declares cost with :meth:`Engine.work`; whatever it sends *after* declaring work
leaves at ``now + work so far`` (so ranks declare work before sending), and the
rank takes its next message at ``now + total work``.  A message that arrives
while the rank is busy, or while older messages wait, joins the rank's FIFO.

Routing.  :meth:`Engine.send` follows the tree path; the arrival is computed at
send time as one heap entry: per-hop latencies plus ``hop_cost`` per intermediate
rank (intermediate ranks route, they do not queue).  Every crossed link is
counted.  With random latencies, arrivals per (src, dst) pair are clamped to be
non-decreasing: MQTT and ZeroMQ keep per-publisher order, so the simulator does too.

Events.  How a published event reaches every rank (``events="tree"`` or
``"broker"``, events from rank 0 or from another rank, loss, per-link order) is
:mod:`kvs_sim.sim.events`: :meth:`Engine.publish` hands the event to
:func:`~kvs_sim.sim.events.emit`, and the tree-event heap entries above come from
:func:`~kvs_sim.sim.events.fanout`.  Its state lives in this class's slots.

The hot loop (:meth:`Engine._loop`) inlines message and tree-event arrivals with
everything bound to locals; ``step()`` runs the same logic through the plain
methods and functions, and the tests check both give the same trace.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from heapq import heappop, heappush
from typing import Any

from kvs_sim.sim.events import BROKER, emit, fanout
from kvs_sim.sim.latency import Constant, LinkModel
from kvs_sim.sim.overlay import Overlay
from kvs_sim.sim.process import SimFuture, Task

CLIENT = -1
"""Source (or destination) rank reported to the tracer for a client."""

Tracer = Callable[[float, int, int, Any], Any]


def _outside(what: str) -> RuntimeError:
    return RuntimeError(
        f"Engine.{what}() called outside a rank's handle(): ranks use the port only while "
        "handling a message (or in start()); client code uses request(), call_later(), spawn()"
    )


class Callback:
    """Client code scheduled on the engine; ``cancel()`` before it runs to drop it."""

    __slots__ = ("args", "cancelled", "fn")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Engine:
    """Discrete-event engine for ranks on an :class:`Overlay`; implements ``Port``.

    Ranks get the engine itself as their port.  ``now()`` is the time the current
    message was taken (declared work does not advance it); ``send``, ``publish``,
    ``respond`` and ``timer`` leave at ``now() + work declared so far``.

    ``tracer(time, src, dst, msg)``, if given, sees every arrival at a rank when it
    arrives (before any queueing): ``src`` is the sending rank, the parent for tree
    events, the rank itself for timers, :data:`CLIENT` for client requests and
    :data:`BROKER` for broker-mode events.  Replies reaching a client are traced
    with ``dst == CLIENT``.  A tracer must not call port methods.

    Counters (read them, do not write them; exact whenever no rank is being handled):
    ``deliveries``, ``events_processed``, ``events_lost``, ``replies_dropped``, and
    :meth:`busy_time`, :meth:`link_messages`, :meth:`queue_length`.
    """

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
        "_handlers",
        "_heap",
        "_hop_cost",
        "_links",
        "_n",
        "_next",
        "_now",
        "_pair_last",
        "_parent",
        "_pending",
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
        client_latency: float = 20e-6,
        forward_cost: float = 0.0,
        tracer: Tracer | None = None,
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

    # ------------------------------------------------------------------ setup

    def attach(self, ranks: Sequence[Any]) -> None:
        """Give the engine its ranks: ``ranks[r].handle(msg)`` for every rank."""
        if len(ranks) != self._n:
            raise ValueError(f"attach() needs {self._n} ranks, got {len(ranks)}")
        self._ranks = ranks
        self._handlers = [rank.handle for rank in ranks]

    def start(self) -> None:
        """Call each rank's optional ``start()`` at the current time, in rank order."""
        if not self._handlers:
            raise RuntimeError("start() before attach(): the engine has no ranks")
        if self._started:
            raise RuntimeError("start() called twice")
        self._started = True
        for r, rank in enumerate(self._ranks):
            fn = getattr(rank, "start", None)
            if fn is not None:
                self._handle(r, _call, fn, self._now)

    # ------------------------------------------------------------------ Port

    def now(self) -> float:
        """Virtual time; while a rank handles a message, the time it took it
        (declared work does not advance it)."""
        return self._now

    def work(self, seconds: float) -> None:
        if self._cur < 0 or not seconds >= 0:  # one test on the common path
            if self._cur < 0:
                raise _outside("work")
            raise ValueError(f"work() needs seconds >= 0, not {seconds!r}")
        self._work += seconds

    def send(self, dst: int, msg: Any) -> None:
        src = self._cur
        if src < 0:
            raise _outside("send")
        n = self._n
        if not 0 <= dst < n:
            raise ValueError(f"send() to rank {dst}: no such rank (size {n})")
        t = self._now + self._work
        if dst != src:
            t += self._route(src, dst)
            last = self._pair_last
            if last is not None:
                key = src * n + dst
                prev = last.get(key, 0.0)
                t = max(t, prev)
                last[key] = t
        self._push_msg(t, src, dst, msg)

    def publish(self, msg: Any) -> None:
        r = self._cur
        if r < 0:
            raise _outside("publish")
        t = self._now + self._work
        if self.on_publish is not None:
            self.on_publish(t, r, msg)
        emit(self, t, r, msg)

    def respond(self, msg: Any) -> None:
        r = self._cur
        if r < 0:
            raise _outside("respond")
        cid = msg.client
        entry = self._clients.get(cid)
        if entry is None:
            self.replies_dropped += 1
            return
        owner, on_reply = entry
        if owner != r:
            raise RuntimeError(f"rank {r} responded to client {cid}, which is attached to {owner}")
        if msg.final:
            del self._clients[cid]
        t = self._now + self._work + self._client_latency
        self._call(t, self._reply_arrives, r, on_reply, msg)

    def timer(self, delay: float, msg: Any) -> None:
        r = self._cur
        if r < 0:
            raise _outside("timer")
        if not delay >= 0:
            raise ValueError(f"timer() needs a delay >= 0, not {delay!r}")
        self._push_msg(self._now + self._work + delay, r, r, msg)

    # ------------------------------------------------------------------ clients

    def request(
        self, rank: int, build: Callable[[int], Any], on_reply: Callable[[Any], Any]
    ) -> int:
        """Send ``build(cid)`` from a new client on ``rank`` (after ``client_latency``);
        each reply with ``.client == cid`` goes to ``on_reply`` after ``client_latency``.
        The id is forgotten after a reply with ``final=True``.  Returns ``cid``."""
        if not 0 <= rank < self._n:
            raise ValueError(f"request() to rank {rank}: no such rank (size {self._n})")
        cid = next(self._cids)
        self._clients[cid] = (rank, on_reply)
        self._push_msg(self._now + self._client_latency, CLIENT, rank, build(cid))
        return cid

    def call_at(self, t: float, fn: Callable[..., Any], *args: Any) -> Callback:
        """Run ``fn(*args)`` at virtual time ``t`` (outside any rank context).

        The returned :class:`Callback` can be cancelled; a cancelled one neither
        runs nor moves the clock (so a timeout that was not needed does not make an
        idle run jump to it)."""
        if not t >= self._now:
            raise ValueError(f"call_at({t!r}) is in the past (now is {self._now!r})")
        cb = Callback(fn, args)
        heappush(self._heap, (t, self._next(), self._cb, cb))
        return cb

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Callback:
        """Run ``fn(*args)`` after ``delay`` seconds of virtual time (cancellable)."""
        if not delay >= 0:
            raise ValueError(f"call_later() needs a delay >= 0, not {delay!r}")
        cb = Callback(fn, args)
        heappush(self._heap, (self._now + delay, self._next(), self._cb, cb))
        return cb

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Task:
        """Run an ``async def`` coroutine on the engine; the Task is a future of its
        return value (or exception).  Its first step runs at the current time."""
        return Task(coro, self)

    def sleep(self, delay: float) -> SimFuture:
        """A future that completes (with None) after ``delay`` virtual seconds."""
        fut = SimFuture()
        self.call_later(delay, _wake_sleeper, fut)
        return fut

    def future(self) -> SimFuture:
        """A fresh pending future (for client code that completes it itself)."""
        return SimFuture()

    # ------------------------------------------------------------------ driving

    def run(self, until: float | None = None) -> None:
        """Process every event with time <= ``until`` (all of them if None), then set
        the clock to ``until``."""
        if until is None:
            self._loop(math.inf)
            return
        if not until >= self._now:
            raise ValueError(f"run(until={until!r}) is before now ({self._now!r})")
        self._loop(until)
        self._now = until

    def run_until_complete(self, fut: SimFuture, timeout: float | None = None) -> Any:
        """Run until ``fut`` is done and return its result (or raise its exception).

        Raises RuntimeError if the simulation goes idle first and TimeoutError if
        ``timeout`` virtual seconds pass first.  Futures completed from client code
        (callbacks, process steps, replies) stop the run at once."""
        if not fut.done():
            lim = math.inf if timeout is None else self._now + timeout

            def stop(_: SimFuture) -> None:
                self._stop = True

            fut.add_done_callback(stop)
            try:
                self._loop(lim)
            finally:
                fut.remove_done_callback(stop)
            if not fut.done():
                if not self._heap:
                    raise RuntimeError(
                        f"simulation went idle before {fut!r} completed (t={self._now:.9g} s): "
                        "nothing left to happen (a reply that never comes?)"
                    )
                self._now = lim
                raise TimeoutError(f"{fut!r} not done after {timeout} s of virtual time")
        return fut.result()

    def step(self) -> bool:
        """Process one heap entry; False if there was none."""
        if self._running:
            raise RuntimeError("step() called while the engine is running")
        if not self._heap:
            return False
        t, seq, code, msg = heappop(self._heap)
        self.events_processed += 1
        n = self._n
        if code < n:
            self._arrive(t, self._srcs.pop(seq, CLIENT), code, msg)
        elif code < 2 * n:
            r = code - n
            fanout(self, t, self._hop_cost, r, msg, None)
            self._arrive(t, self._parent[r], r, msg)
        elif code < 3 * n:
            r = code - 2 * n
            for c in self._children[r]:
                fanout(self, t, self._hop_cost, c, msg, None)
                self._arrive(t, r, c, msg)
        else:
            self._slow(t, code, msg)
        return True

    def _loop(self, lim: float) -> None:
        if self._running:
            raise RuntimeError("the engine is already running (run() called from a callback?)")
        self._running = True
        self._stop = False
        heap = self._heap
        pop = heappop
        push = heappush
        nxt = self._next
        n = self._n
        n2 = n + n
        n3 = n2 + n
        busy = self._busy
        busy_time = self._busy_time
        pending = self._pending
        handlers = self._handlers
        children = self._children
        parent = self._parent
        evf = self._ev_fwd
        tracer = self._tracer
        srcs = self._srcs
        fwd = self._fwd
        hop = self._hop_cost
        forward = fanout
        enqueue = self._enqueue
        slow = self._slow
        deliv = nev = 0
        try:
            while heap:
                t, seq, r, msg = pop(heap)
                if t > lim:
                    push(heap, (t, seq, r, msg))
                    break
                nev += 1
                if r < n:  # a message arrives at r
                    deliv += 1
                    if tracer is not None:
                        tracer(t, srcs.pop(seq, CLIENT), r, msg)
                elif r >= n2:
                    if r >= n3:  # a rank is free again, or client code
                        self.deliveries += deliv
                        self.events_processed += nev
                        deliv = nev = 0
                        slow(t, r, msg)
                        if self._stop:
                            break
                        continue
                    # An event reaches every child of r at once: each forwards it to
                    # its own children (one heap entry per forwarding rank), then
                    # takes it like any message.
                    r -= n2
                    ta = t + fwd  # type: ignore[operator]
                    self._now = t  # the same instant for every child
                    for c in children[r]:
                        if children[c]:
                            evf[c] += 1
                            push(heap, (ta, nxt(), c + n2, msg))
                        deliv += 1
                        if tracer is not None:
                            tracer(t, r, c, msg)
                        if busy[c] <= t and pending[c] is None:
                            self._cur = c
                            self._work = 0.0
                            handlers[c](msg)
                            w = self._work
                            if w:
                                busy[c] = t + w
                                busy_time[c] += w
                        else:
                            enqueue(t, c, msg)
                    continue
                else:  # an event reaches r (random latency or loss): forward it
                    r -= n
                    if children[r]:
                        forward(self, t, hop, r, msg, None)
                    deliv += 1
                    if tracer is not None:
                        tracer(t, parent[r], r, msg)
                if busy[r] <= t and pending[r] is None:
                    self._cur = r
                    self._now = t
                    self._work = 0.0
                    handlers[r](msg)
                    w = self._work
                    if w:
                        busy[r] = t + w
                        busy_time[r] += w
                else:
                    enqueue(t, r, msg)
        finally:
            self._cur = -1
            self._running = False
            self.deliveries += deliv
            self.events_processed += nev

    # ------------------------------------------------------------------ internals

    def _handle(self, r: int, fn: Callable[[Any], Any], msg: Any, t: float) -> None:
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
        self.deliveries += 1
        if self._tracer is not None:
            self._tracer(t, src, r, msg)
        if self._busy[r] <= t and self._pending[r] is None:
            self._handle(r, self._handlers[r], msg, t)
        else:
            self._enqueue(t, r, msg)

    def _enqueue(self, t: float, r: int, msg: Any) -> None:
        self._now = t
        q = self._pending[r]
        if q is None:
            q = self._pending[r] = deque()
            b = self._busy[r]
            heappush(self._heap, (b if b > t else t, self._next(), 3 * self._n + r, None))
        q.append(msg)

    def _slow(self, t: float, code: int, msg: Any) -> None:
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
        elif not msg.cancelled:
            self._now = t
            self._cur = -1
            msg.fn(*msg.args)

    def _push_msg(self, t: float, src: int, dst: int, msg: Any) -> None:
        seq = self._next()
        heappush(self._heap, (t, seq, dst, msg))
        if self._tracer is not None:
            self._srcs[seq] = src

    def _call(self, t: float, fn: Callable[..., Any], *args: Any) -> None:
        heappush(self._heap, (t, self._next(), self._cb, Callback(fn, args)))

    def _route(self, src: int, dst: int) -> float:
        """Count the links from ``src`` to ``dst`` and return the travel time."""
        ups, downs = self.overlay.legs(src, dst)
        up, down, parent = self._up, self._down, self._parent
        for c in ups:
            up[c] += 1
        for c in downs:
            down[c] += 1
        hops = len(ups) + len(downs)
        delay = (hops - 1) * self._hop_cost
        if self._const is not None:
            return delay + hops * self._const
        sample, rng = self._links.sample, self._rng
        for c in ups:
            delay += sample(c, parent[c], rng)
        for c in downs:
            delay += sample(parent[c], c, rng)
        return delay

    def _reply_arrives(self, r: int, on_reply: Callable[[Any], Any], reply: Any) -> None:
        if self._tracer is not None:
            self._tracer(self._now, r, CLIENT, reply)
        on_reply(reply)

    # ------------------------------------------------------------------ counters

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
        return list(self._busy_time)

    def queue_length(self, rank: int) -> int:
        """Messages waiting at ``rank`` (not counting the one being handled)."""
        q = self._pending[rank]
        return 0 if q is None else len(q)

    def link_messages(self) -> dict[tuple[int, int], int]:
        """Messages (sends and events, lost ones included) per directed link ``(a, b)``
        that carried any; broker links use :data:`BROKER` as an end."""
        out: dict[tuple[int, int], int] = {}
        parent = self._parent
        for c in range(1, self._n):
            p = parent[c]
            if self._up[c]:
                out[(c, p)] = self._up[c]
            count = self._down[c] + self._ev_fwd[p]
            if count:
                out[(p, c)] = count
        for r in range(len(self._to_broker)):
            if self._to_broker[r]:
                out[(r, BROKER)] = self._to_broker[r]
            if self._from_broker[r]:
                out[(BROKER, r)] = self._from_broker[r]
        return out

    def __repr__(self) -> str:
        return (
            f"<Engine n={self._n} events={self.events} t={self._now:.9g} "
            f"queued={len(self._heap)} deliveries={self.deliveries}>"
        )


def _call(fn: Callable[[], Any]) -> None:
    fn()


def _wake_sleeper(fut: SimFuture) -> None:
    if not fut.done():
        fut.set_result(None)
