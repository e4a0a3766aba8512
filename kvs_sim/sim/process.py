"""Futures and ``async def`` processes driven by the virtual-time engine (no asyncio).

Theory of operation
-------------------
Client code (benchmarks, workloads, the ``flux.kvs``-like handles) is written as
plain ``async def`` functions.  Python coroutines are generators underneath: an
``await`` of a :class:`SimFuture` yields the future up to whoever called
``coro.send()``.  That caller is a :class:`Task`, a trampoline:

1. ``engine.spawn(coro)`` wraps the coroutine in a Task and schedules its first
   step at the current virtual time.
2. A step ``send()``\\ s into the coroutine until it yields a future; the Task
   registers a done-callback on it and returns to the engine.
3. When the future completes (a reply arrived, a sleep's timer fired), the
   callback schedules the next step at the then-current time.  Resuming the
   coroutine re-enters ``SimFuture.__await__``, which returns the result or raises
   the exception *inside* the coroutine, so ``try/except`` around ``await`` works.
4. When the coroutine returns, the Task (itself a SimFuture) gets its return value;
   an exception escaping it becomes the Task's exception.

Steps always run from the engine's queue, never nested inside another step or a
rank's handler, so there is no re-entrancy and the order of everything is fixed
by the engine's ``(time, seq)`` heap: runs are reproducible.  Plain done-callbacks
(``add_done_callback``) run synchronously when the future completes.

The scheduler a Task needs is anything with ``call_later(delay, fn, *args)``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol

_PENDING = 0
_DONE = 1
_FAILED = 2
_CANCELLED = 3


class CancelledError(BaseException):
    """Raised by ``result()``/``exception()`` of a cancelled future, and thrown into a
    cancelled Task's coroutine.  A ``BaseException`` (like asyncio's) so that
    ``except Exception`` in client code does not swallow cancellation."""


class InvalidStateError(Exception):
    """A result was read before the future completed, or set twice."""


class SimFuture:
    """A value that will be available later in virtual time.

    Not thread-safe and not tied to any loop: whoever completes it calls
    :meth:`set_result` or :meth:`set_exception`.  ``await fut`` works inside
    coroutines run by :meth:`Engine.spawn`.
    """

    __slots__ = ("_callbacks", "_state", "_value")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._callbacks: list[Callable[[SimFuture], Any]] | None = None

    # -- state ----------------------------------------------------------------

    def done(self) -> bool:
        """True once a result, an exception or a cancellation is set."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> Any:
        """The result; raises the exception if one was set, :class:`CancelledError`
        if cancelled, :class:`InvalidStateError` if not done yet."""
        state = self._state
        if state == _DONE:
            return self._value
        if state == _FAILED:
            raise self._value
        if state == _CANCELLED:
            raise CancelledError("the future was cancelled")
        raise InvalidStateError("result() of a future that is not done")

    def exception(self) -> BaseException | None:
        """The exception set, or None after a result; raises like :meth:`result` if
        cancelled or not done."""
        state = self._state
        if state == _FAILED:
            return self._value  # type: ignore[no-any-return,unused-ignore]
        if state == _DONE:
            return None
        if state == _CANCELLED:
            raise CancelledError("the future was cancelled")
        raise InvalidStateError("exception() of a future that is not done")

    # -- completion -------------------------------------------------------------

    def set_result(self, value: Any) -> None:
        self._finish(_DONE, value)

    def set_exception(self, exc: BaseException) -> None:
        if isinstance(exc, type):
            exc = exc()
        if not isinstance(exc, BaseException):
            raise TypeError(f"set_exception() needs an exception, not {exc!r}")
        self._finish(_FAILED, exc)

    def cancel(self) -> bool:
        """Cancel a pending future (its callbacks run); False if already done."""
        if self._state != _PENDING:
            return False
        self._finish(_CANCELLED, None)
        return True

    def _finish(self, state: int, value: Any) -> None:
        if self._state != _PENDING:
            raise InvalidStateError(f"future already done: {self!r}")
        self._state = state
        self._value = value
        callbacks = self._callbacks
        if callbacks:
            self._callbacks = None
            for fn in callbacks:
                fn(self)

    def add_done_callback(self, fn: Callable[[SimFuture], Any]) -> None:
        """Call ``fn(self)`` when done (right away if already done)."""
        if self._state != _PENDING:
            fn(self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def remove_done_callback(self, fn: Callable[[SimFuture], Any]) -> int:
        """Remove every registration of ``fn``; returns how many were removed."""
        if not self._callbacks:
            return 0
        before = len(self._callbacks)
        self._callbacks = [f for f in self._callbacks if f != fn] or None
        return before - len(self._callbacks or ())

    # -- awaiting ---------------------------------------------------------------

    def __await__(self) -> Generator[SimFuture, None, Any]:
        if self._state == _PENDING:
            yield self
            if self._state == _PENDING:
                raise InvalidStateError("a coroutine was resumed before its future completed")
        return self.result()

    __iter__ = __await__

    def __repr__(self) -> str:
        state = ("pending", "done", "failed", "cancelled")[self._state]
        extra = f" {self._value!r}" if self._state in (_DONE, _FAILED) else ""
        return f"<{type(self).__name__} {state}{extra}>"


class Scheduler(Protocol):
    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any: ...


class Task(SimFuture):
    """A coroutine being driven by the engine; completes with its return value."""

    __slots__ = ("_coro", "_must_cancel", "_sched", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], sched: Scheduler) -> None:
        if not (hasattr(coro, "send") and hasattr(coro, "throw")):
            raise TypeError(
                f"spawn() needs a coroutine object (call the async function), not {coro!r}"
            )
        super().__init__()
        self._coro = coro
        self._sched = sched
        self._waiting: SimFuture | None = None
        self._must_cancel = False
        sched.call_later(0.0, self._step, None)

    def set_result(self, value: Any) -> None:
        raise RuntimeError("a Task completes when its coroutine returns; set_result is not allowed")

    def set_exception(self, exc: BaseException) -> None:
        raise RuntimeError("a Task fails when its coroutine raises; set_exception is not allowed")

    def cancel(self) -> bool:
        """Throw :class:`CancelledError` into the coroutine at its current ``await``
        (at the next step).  The Task ends cancelled unless the coroutine catches it."""
        if self._state != _PENDING:
            return False
        waiting = self._waiting
        if waiting is not None and waiting.cancel():
            return True  # our wakeup callback resumes the coroutine, which sees it
        self._must_cancel = True
        return True

    def _wakeup(self, fut: SimFuture) -> None:
        self._sched.call_later(0.0, self._step, None)

    def _step(self, exc: BaseException | None) -> None:
        if self._state != _PENDING:
            return
        self._waiting = None
        if self._must_cancel:
            self._must_cancel = False
            exc = CancelledError("the task was cancelled")
        coro = self._coro
        try:
            yielded = coro.send(None) if exc is None else coro.throw(exc)
        except StopIteration as stop:
            self._finish(_DONE, stop.value)
        except CancelledError:
            self._finish(_CANCELLED, None)
        except Exception as err:
            self._finish(_FAILED, err)
        except BaseException as err:  # KeyboardInterrupt, SystemExit: record and re-raise
            self._finish(_FAILED, err)
            raise
        else:
            if isinstance(yielded, SimFuture):
                self._waiting = yielded
                yielded.add_done_callback(self._wakeup)
            else:
                bad = TypeError(
                    f"a simulated process awaited {yielded!r}; only SimFuture (engine.sleep, "
                    "replies, spawned tasks) can be awaited on the engine, not asyncio objects"
                )
                self._sched.call_later(0.0, self._step, bad)

    def __repr__(self) -> str:
        name = getattr(self._coro, "__qualname__", "?")
        state = ("pending", "done", "failed", "cancelled")[self._state]
        return f"<Task {name} {state}>"
