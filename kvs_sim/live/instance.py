"""A live cluster seen as an *instance* by the Flux-compatible API.

Theory of operation
-------------------
``kvs_sim.flux.Flux()`` with ``KVS_SIM_URI=mqtt://HOST:PORT/CLUSTER?rank=R`` must
work like a handle on a simulated instance: blocking calls return once the answer
is there.  :class:`LiveInstance` gives the four members such a handle needs
(``size``, ``handle()``, ``wait()``, ``run()``) on top of a :class:`LiveClient`.

It owns a private asyncio loop that runs only inside :meth:`LiveInstance.wait`
(and :meth:`run`), the way Flux's reactor runs only inside a blocking
``flux_future_get``.  Its :class:`~kvs_sim.live.client.LiveBackend` is bound to
that loop, so a :class:`~kvs_sim.handle.Handle` built on it sends requests at once and
the replies are taken in when someone waits.

URI query parameters: ``rank`` (the rank ``Flux()`` attaches to, default 0),
``size`` (the cluster size reported by ``attr_get("size")``; asked from nobody, so
give it if scripts need it), ``timeout`` (seconds a blocking call may wait for an
answer before ``ETIMEDOUT``, default 30).
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from kvs_sim.core.errors import TimedOut
from kvs_sim.handle import Handle
from kvs_sim.live import eventloop
from kvs_sim.live import topics as tp
from kvs_sim.live.client import LiveBackend, LiveClient

_PARAMS = ("rank", "size", "timeout")


class LiveInstance:
    """A live cluster for blocking ``flux.kvs`` calls.  Build with :func:`connect`."""

    def __init__(self, url: str, *, rank: int = 0, size: int = 0, timeout: float = 30.0):
        self.url = url
        self.default_rank = rank
        self._size = size
        self.timeout = timeout
        self.loop = eventloop.new_event_loop(blocking=True)
        self.client = LiveClient(url, rank=rank, timeout=timeout)
        self.loop.run_until_complete(self.client.__aenter__())
        # A script's Flux() handle is never closed by the script: disconnect cleanly
        # when the interpreter exits instead of leaving paho to complain.
        atexit.register(self.close)
        self.backend = LiveBackend(self.client, self.loop)

    @property
    def size(self) -> int:
        return self._size if self._size > 0 else self.default_rank + 1

    def handle(
        self, rank: int = 0, *, userid: int | None = None, name: str | None = None
    ) -> Handle:
        return Handle(self.backend, rank, userid=userid or 0, name=name)

    def wait(self, fut: Any, timeout: float | None = None) -> Any:
        """Run the loop until ``fut`` is done; ETIMEDOUT after ``timeout`` (or the
        instance's timeout) seconds."""
        limit = self.timeout if timeout is None else timeout
        if not fut.done():
            # The loop runs until the future is done or the time is up; no task,
            # no wait_for, no shield (this is once per blocking call, and it is
            # on the critical path of every commit a script makes).
            loop = self.loop
            timer = loop.call_later(limit, loop.stop)
            fut.add_done_callback(_stop_loop)
            try:
                loop.run_forever()
            finally:
                timer.cancel()
                fut.remove_done_callback(_stop_loop)
            if not fut.done():
                raise TimedOut(errno.ETIMEDOUT, f"no answer from {self.url} within {limit:g} s")
        return fut.result()

    def event_clock(self) -> float:
        """Timestamps for eventlog events: the wall clock, as on a real cluster."""
        return time.time()

    def run(self) -> None:
        """Let pending callbacks and replies in (a live reactor never goes idle)."""
        self.loop.run_until_complete(asyncio.sleep(0.05))

    def close(self) -> None:
        """Disconnect (idempotent)."""
        if self.loop.is_closed():
            return
        atexit.unregister(self.close)
        self.loop.run_until_complete(self.client.__aexit__(None, None, None))
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()


def _stop_loop(fut: Any) -> None:
    fut.get_loop().stop()


def connect(uri: str) -> LiveInstance:
    """The instance a ``mqtt://HOST:PORT/CLUSTER?rank=R[&size=N][&timeout=S]`` URI
    names; ValueError naming what is wrong with a bad URI."""
    parts = urlsplit(uri)
    params: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _PARAMS:
            raise ValueError(
                f"KVS_SIM_URI: unknown parameter {key!r} in {uri!r} (known: {', '.join(_PARAMS)})"
            )
        try:
            params[key] = float(value) if key == "timeout" else int(value)
        except ValueError:
            raise ValueError(f"KVS_SIM_URI: {key} must be a number, got {value!r}") from None
        if params[key] < 0 or (key == "timeout" and params[key] == 0):
            raise ValueError(f"KVS_SIM_URI: {key} must be positive, got {value!r}")
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    tp.parse_url(base)  # a clear URLError for a malformed broker part
    return LiveInstance(base, **params)
