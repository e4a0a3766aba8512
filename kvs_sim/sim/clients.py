"""What client code does with the engine: requests, scheduled calls, processes, and
driving the clock.

Theory of operation
-------------------
Client code (handles, scenario processes, benchmarks) runs *outside* any rank:
in callbacks (heap code ``4n``, :class:`~kvs_sim.sim.state.Callback`) that the
engine runs between rank deliveries.  It reaches ranks only through
:meth:`ClientAPI.request`, which sends a message from a new client id (after
``client_latency``) and routes every reply carrying that id back to the caller's
``on_reply`` (after ``client_latency`` again); ``async def`` processes
(:meth:`ClientAPI.spawn`, :mod:`kvs_sim.sim.process`) are chains of such
callbacks.

Driving.  :meth:`ClientAPI.run` and :meth:`ClientAPI.run_until_complete` process
heap entries with one of the two loops of :mod:`kvs_sim.sim.loop`
(:meth:`ClientAPI._drive` picks by ``slow_path`` and switches when it changes);
:meth:`ClientAPI.step` processes a single entry through the plain path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from heapq import heappop, heappush
from typing import Any

from kvs_sim.sim import lazy
from kvs_sim.sim.loop import fast_loop, plain_loop, step_entry
from kvs_sim.sim.process import SimFuture, Task
from kvs_sim.sim.state import CLIENT, Callback, EngineState


class ClientAPI(EngineState):
    """The client-facing half of :class:`~kvs_sim.sim.engine.Engine`."""

    __slots__ = ()

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

    def _reply_arrives(self, r: int, on_reply: Callable[[Any], Any], reply: Any) -> None:
        if self._tracer is not None:
            self._tracer(self._now, r, CLIENT, reply)
        on_reply(reply)

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
            self._drive(math.inf)
            return
        if not until >= self._now:
            raise ValueError(f"run(until={until!r}) is before now ({self._now!r})")
        self._drive(until)
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
                self._drive(lim)
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
        """Process one heap entry (through the plain path); False if there was none."""
        if self._running:
            raise RuntimeError("step() called while the engine is running")
        lazy.off(self)  # the plain path delivers every event itself
        if not self._heap:
            return False
        step_entry(self, *heappop(self._heap))
        return True

    @property
    def slow_path(self) -> bool:
        """True while every heap entry goes through the plain path
        (:func:`kvs_sim.sim.loop.plain_loop`), where per-delivery hooks such as fault
        injection live; False (the default) for the inlined hot loop.  Set it from
        client code (a callback or process); a running loop switches after it."""
        return self._plain

    @slow_path.setter
    def slow_path(self, on: bool) -> None:
        if on:
            lazy.off(self)  # the plain path delivers every event itself
        self._plain = bool(on)

    def settle(self) -> None:
        """Let every rank take the setroots that reached it by now (the engine
        delivers them to idle subtrees lazily: :mod:`kvs_sim.sim.lazy`).  Done at the
        end of every run and before any counter is read; call it before reading a
        rank's state from client code while the engine runs."""
        lazy.settle(self, self._now)

    def _drive(self, lim: float) -> None:
        if self._running:
            raise RuntimeError("the engine is already running (run() called from a callback?)")
        self._running = True
        self._stop = False
        try:
            while (plain_loop if self._plain else fast_loop)(self, lim):
                pass
            if self._lz and self._lz_due <= lim:
                if self._stop:
                    lazy.settle(self, self._now)
                elif self._heap or lim < math.inf:
                    lazy.settle(self, lim)
                else:  # idle: the clock ends where the last event was taken
                    self._now = max(self._now, lazy.settle(self, lim))
        finally:
            self._cur = -1
            self._running = False


def _wake_sleeper(fut: SimFuture) -> None:
    if not fut.done():
        fut.set_result(None)
