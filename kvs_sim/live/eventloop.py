"""The event loop every live process runs on: uvloop where it is installed.

A live commit is a chain of wake-ups (client, broker, rank process, broker,
client), and in each Python process of the chain asyncio's own bookkeeping (the
selector, handles, timers for request timeouts) is a sizeable share of the CPU
on the critical path.  uvloop implements the same loop on libuv in C: on the
benchmark's default layout it measured about 10% more commits per second from
rank 0 and from depth 3, with less CPU per commit in the client and the rank
processes (docs/live.md, "Event loop").

Nothing in kvs-sim depends on which loop runs: rank logic never sees the loop,
and the transport only uses ``add_reader``/``add_writer``, ``call_soon`` and
``call_later``, which both loops provide.  One difference shows: uvloop's
``loop.time()`` counts whole milliseconds, read once per loop iteration, so
times that end up in histories and root reports (ranks' ``now()``, handles',
live runs') come from ``time.monotonic()``, the clock every process on a
machine shares; ``loop.time()`` only measures timeouts.  ``KVS_SIM_EVENT_LOOP`` chooses:
``uvloop``, ``asyncio`` (the standard library's), or ``auto`` (the default:
uvloop if importable).  The simulator never uses this module: virtual time has
its own loop (:mod:`kvs_sim.sim.loop`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["ENV", "EventLoopError", "loop_factory", "loop_name", "new_event_loop", "run"]

ENV = "KVS_SIM_EVENT_LOOP"
_CHOICES = ("auto", "uvloop", "asyncio")
T = TypeVar("T")


class EventLoopError(RuntimeError):
    """``KVS_SIM_EVENT_LOOP`` names a loop that is unknown or not installed."""


def _wanted() -> str:
    return os.environ.get(ENV, "auto").strip().lower() or "auto"


def loop_name() -> str:
    """The loop live processes run on, ``uvloop`` or ``asyncio``, by
    ``KVS_SIM_EVENT_LOOP`` and what is installed."""
    wanted = _wanted()
    if wanted not in _CHOICES:
        raise EventLoopError(f"{ENV}={os.environ[ENV]!r}: expected one of {', '.join(_CHOICES)}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise EventLoopError(
                f"{ENV}=uvloop but uvloop is not installed (pip install uvloop)"
            ) from None
        return "asyncio"
    return "uvloop"


def loop_factory(*, blocking: bool = False) -> Callable[[], asyncio.AbstractEventLoop]:
    """A callable making a new loop of the chosen kind.

    ``blocking``: the loop is started and stopped once per blocking call (the
    ``flux.kvs`` API of a live instance) rather than run for the life of the
    process.  Under ``auto`` that is asyncio's loop: uvloop creates and closes a
    signal self-pipe (a socket pair) every time it starts in the main thread,
    about 40 us against asyncio's 10 us for a start, which is more than it saves
    on one request."""
    name = loop_name()
    if blocking and name == "uvloop" and _wanted() == "auto":
        name = "asyncio"
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def new_event_loop(*, blocking: bool = False) -> asyncio.AbstractEventLoop:
    """A new loop of the chosen kind (not set as the thread's current loop);
    ``blocking`` as for :func:`loop_factory`."""
    return loop_factory(blocking=blocking)()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a loop of the chosen kind."""
    try:
        factory = loop_factory()
    except EventLoopError:
        main.close()  # never started: no "was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
