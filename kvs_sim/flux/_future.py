"""Flux-style futures over the simulator's futures: ``get``, ``then``, ``reset``.

Theory of operation
-------------------
A Flux future is *fulfilled* by a response and stays so until ``reset()``; a
streaming future (a watch) is fulfilled again by each later response.  Here a
:class:`Future` wraps one :class:`~kvs_sim.sim.process.SimFuture` (one answer),
and a :class:`KVSWatchFuture` wraps a :class:`~kvs_sim.handle.WatchStream`
(answers queued in arrival order; the head is the current one).

* ``get()`` blocks: it advances the simulation until the future is fulfilled
  (:meth:`Flux._wait`), then returns the answer or raises its ``OSError``.  A
  watch's ``get(autoreset=True)`` also drops the head so the next call waits for
  the next answer; a stream ended by ``cancel()`` answers ``None`` (``ENODATA``).
* ``then(cb, arg)`` registers the continuation ``cb(future, arg)``.  When the
  future is (or becomes) fulfilled and the continuation is *armed*, its call is
  queued on the handle's reactor and runs in ``reactor_run()``.  Running it
  disarms it; ``reset()`` re-arms it, as in Flux, so a watch callback that calls
  ``get()`` is called once per answer and one that never resets is not called in
  a loop.
* ``await fut`` works in ``async def`` processes: a plain future gives what
  ``get()`` gives, a watch gives its next value (``None`` at the end), and
  ``async for value in watch`` iterates until the end.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

from kvs_sim.core.errors import KVSError, TimedOut
from kvs_sim.handle import WatchStream, decode_value

if TYPE_CHECKING:
    from kvs_sim.flux.handle import Flux

__all__ = ["Future", "KVSWatchFuture"]


class Future:
    """The answer of one asynchronous KVS call (``commit_async``)."""

    def __init__(self, flux_handle: Flux, fut: Any) -> None:
        self._fh = flux_handle
        self._fut = fut
        self.then_cb: Callable[..., Any] | None = None
        self.then_arg: Any = None
        self._armed = False
        self._timeout_error: KVSError | None = None
        fut.add_done_callback(lambda _f: self._answered())

    # -- Flux's Future API --------------------------------------------------------

    def is_ready(self) -> bool:
        """True once fulfilled (a response, or a ``then`` timeout)."""
        return self._fut.done() or self._timeout_error is not None

    def wait_for(self, timeout: float = -1.0) -> Future:
        """Block until fulfilled; ``ETIMEDOUT`` if ``timeout`` (>= 0) seconds pass."""
        if not self.is_ready():
            self._fh._wait(self._wake_future(), None if timeout < 0 else timeout)
        return self

    def get(self) -> Any:
        """Block until fulfilled; None on success, else raise the error."""
        self._result()
        return None

    def then(self, callback: Callable[..., Any], arg: Any = None, timeout: float = -1.0) -> Future:
        """Call ``callback(self, arg)`` from ``reactor_run()`` once fulfilled.

        A second ``then`` is ``EEXIST``; ``timeout`` >= 0 fulfils the future with
        ``ETIMEDOUT`` if no answer comes in time.  Returns ``self``."""
        if self.then_cb is not None:
            raise OSError(errno.EEXIST, "then callback already exists for this future")
        if callback is None:
            raise ValueError("Callback cannot be None")
        self.then_cb = callback
        self.then_arg = arg
        self._armed = True
        self._fh._thens.append(self)
        if timeout >= 0:
            self._fh.handle.backend.call_later(timeout, self._expire, timeout)
        self._answered()
        return self

    def reset(self) -> None:
        """Unfulfil the future (a one-answer future has nothing more to give)."""
        self._timeout_error = None
        self._rearm()

    def get_flux(self) -> Flux:
        return self._fh

    def error_string(self) -> str | None:
        exc = self._error()
        return None if exc is None else str(getattr(exc, "strerror", None) or exc)

    # -- awaiting -----------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Any]:
        yield from self._fut.__await__()
        return self.get()

    # -- plumbing -------------------------------------------------------------------

    def _result(self) -> Any:
        if not self._fut.done():
            if self._timeout_error is not None:
                raise self._timeout_error
            self._fh._wait(self._fut)
        return self._fut.result()

    def _error(self) -> BaseException | None:
        if self._timeout_error is not None and not self._fut.done():
            return self._timeout_error
        if not self._fut.done():
            return None
        exc = self._fut.exception()
        return exc if isinstance(exc, OSError) else None

    def _wake_future(self) -> Any:
        return self._fut

    def _spent(self) -> bool:
        """True once no answer can come any more and the continuation ran."""
        return not self._armed and self.is_ready()

    def _expire(self, timeout: float) -> None:
        if not self.is_ready():
            self._timeout_error = TimedOut(errno.ETIMEDOUT, f"no answer within {timeout} s")
            self._answered()

    def _answered(self) -> None:
        if self._armed and self.then_cb is not None and self.is_ready():
            self._armed = False
            self._fh._schedule(self._dispatch)

    def _rearm(self) -> None:
        if self.then_cb is not None and not self._armed:
            self._armed = True
            self._answered()

    def _dispatch(self) -> None:
        cb = self.then_cb
        if cb is not None:
            cb(self, self.then_arg)


class _CommitFuture(Future):
    """A commit's future: also gives what the commit response reported."""

    def get_sequence(self) -> int:
        """The root sequence the response reports (``flux_kvs_commit_get_sequence``).

        On a follower, by default, this is the version *before* the commit, as
        observed on Flux 0.88; ``get_version()`` after the commit is the safe
        value to hand to another process."""
        return int(self._result()["seq"])

    def get_blobref(self) -> str:
        """The root blobref the response reports."""
        return str(self._result()["rootref"])

    def get_treeobj(self) -> dict[str, Any]:
        """The reported root as an RFC 11 ``dirref`` (``flux_kvs_commit_get_treeobj``)."""
        return {"ver": 1, "type": "dirref", "data": [self.get_blobref()]}


class KVSWatchFuture(Future):
    """The stream of answers of ``kvs_watch_async``.

    ``_raw`` (set by :mod:`kvs_sim.flux.eventlog`) makes ``get()`` return the
    bytes as they are instead of decoding them."""

    _raw = False

    def __init__(self, flux_handle: Flux, stream: WatchStream) -> None:
        self._stream = stream
        self._waker: Any = None
        self.needs_cancel = True
        super().__init__(flux_handle, flux_handle.handle.backend.future())
        stream.on_value(self._on_value)

    def is_ready(self) -> bool:
        return bool(self._stream.values) or self._stream.ended or self._timeout_error is not None

    def get(self, autoreset: bool = True) -> Any:
        """The current value (decoded as ``flux.kvs.get`` does), or None once the
        stream was cancelled; raises the error that ended it otherwise.  With
        ``autoreset`` the next call waits for the next value."""
        if not self.is_ready():
            self._fh._wait(self._wake_future())
        return self._take(autoreset)[1]

    def _take(self, autoreset: bool) -> tuple[bool, Any]:
        """``(False, value)`` for an answer, ``(True, None)`` at the end of a
        cancelled stream; raises the error that ended it otherwise."""
        stream = self._stream
        if stream.values:
            value = stream.values[0]
            if autoreset:
                self.reset()
            if self._raw or not isinstance(value, bytes | None):
                return False, value
            return False, decode_value(value)
        if self._timeout_error is not None:
            raise self._timeout_error
        err = stream.error
        if err is None or err.errno == errno.ENODATA:
            self.needs_cancel = False
            return True, None
        raise err

    def reset(self) -> None:
        """Drop the current value (the end of the stream stays)."""
        self._timeout_error = None
        if self._stream.values:
            self._stream.values.pop(0)
        self._rearm()

    def cancel(self, stop: bool = False) -> None:
        """Ask the rank to end the stream; it ends with ``ENODATA`` (get() -> None).

        ``stop=True`` also drops the continuation, so it is not called again."""
        if self.needs_cancel and not self._stream.ended:
            self._stream.cancel()
        self.needs_cancel = False
        if stop:
            self.then_cb = None
            self._armed = False

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.is_ready():
            yield from self._wake_future().__await__()
        return self.get()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            if not self.is_ready():
                await self._wake_future()
            ended, value = self._take(True)
            if ended:
                return
            yield value

    def _error(self) -> BaseException | None:
        if self._timeout_error is not None:
            return self._timeout_error
        return self._stream.error if not self._stream.values else None

    def _spent(self) -> bool:
        return not self._armed and self._stream.ended and not self._stream.values

    def _wake_future(self) -> Any:
        """A future done as soon as the stream has something to give."""
        fut = self._fh.handle.backend.future()
        if self.is_ready():
            fut.set_result(None)
        else:
            self._waker = fut
        return fut

    def _on_value(self, _stream: WatchStream, _value: Any) -> None:
        # Called just *before* the stream queues the value (an error is already
        # recorded): the future is ready by the time anyone looks.
        waker, self._waker = self._waker, None
        if waker is not None and not waker.done():
            waker.set_result(None)
        if self._armed and self.then_cb is not None:
            self._armed = False
            self._fh._schedule(self._dispatch)
