"""``flux.eventlog``: RFC 18 eventlogs in the KVS, through a Flux handle.

Theory of operation
-------------------
flux-core's Python binding has ``flux.eventlog`` (``EventLogEvent``, a dict with
``name``/``timestamp``/``context`` properties, and ``EventLogFormatter``) and
watches a job's eventlog with ``flux.job.event_watch_async`` /
``event_watch`` / ``event_wait``.  This module keeps those names and shapes but
takes a KVS *key* instead of a job id, so any eventlog can be written, read,
watched and waited on:

* :func:`append` commits one event with the ``APPEND`` flag (``timestamp=None``:
  the instance's clock, which is *virtual time* in a simulation, so runs stay
  deterministic, and the wall clock on a live cluster);
* :func:`get` reads the whole log as a list of :class:`EventLogEvent`;
* :func:`event_watch_async` watches it with ``WATCH_APPEND``: its future's
  ``get_event()`` gives the events one by one, old ones first, then each one
  appended later, and ``None`` once cancelled; :func:`event_watch` iterates;
* :func:`event_wait` blocks until an event of a given name is there.

Every event is checked against RFC 18 (:mod:`kvs_sim.core.eventlog`): a
malformed one is ``EINVAL`` with the reason, when appended and when read.  A
watch sees what its rank sees: on a far follower, events arrive when the
setroot carrying them does (eventually consistent), in order, never reordered.
"""

from __future__ import annotations

import errno
import json
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kvs_sim.core import eventlog as rfc18
from kvs_sim.core.errors import TimedOut
from kvs_sim.flux._args import check_key, check_str
from kvs_sim.flux._txn import _get_kvstxn, _ns, commit
from kvs_sim.flux.kvs import KVSWatchFuture, kvs_watch_async

if TYPE_CHECKING:
    from kvs_sim.flux.handle import Flux

__all__ = [
    "EventLogEvent",
    "EventLogFormatter",
    "EventWatchFuture",
    "append",
    "event_wait",
    "event_watch",
    "event_watch_async",
    "get",
]


class EventLogEvent(dict[str, Any]):
    """One event: a dict ``{timestamp, name, context}`` (context ``{}`` if absent)."""

    def __init__(self, event: Mapping[str, Any] | str) -> None:
        if isinstance(event, str):
            event = json.loads(event)
        super().__init__(rfc18.validate_event(event))
        self.setdefault("context", {})

    @property
    def name(self) -> str:
        return str(self["name"])

    @property
    def timestamp(self) -> float:
        return float(self["timestamp"])

    @property
    def context(self) -> dict[str, Any]:
        return dict(self["context"])

    @property
    def context_string(self) -> str:
        """The context as compact sorted JSON, ``""`` if empty."""
        if not self["context"]:
            return ""
        return json.dumps(self["context"], separators=(",", ":"), sort_keys=True)

    def __str__(self) -> str:
        return f"{self.timestamp:<0.5f}: {self.name} {self.context}"


class EventLogFormatter:
    """Events as ``flux kvs eventlog get`` prints them: ``format`` "text" or
    "json"; ``timestamp_format`` "raw" or "human"; ``color`` "always"/"never"."""

    def __init__(
        self, format: str = "text", timestamp_format: str = "raw", color: str = "never"
    ) -> None:
        if format not in ("text", "json"):
            raise ValueError(f"invalid format {format!r}: expected 'text' or 'json'")
        if timestamp_format not in ("raw", "human"):
            raise ValueError(f"invalid timestamp_format {timestamp_format!r}")
        if color not in ("always", "never"):
            raise ValueError(f"invalid color {color!r}: expected 'always' or 'never'")
        self._impl = rfc18.EventFormatter(
            unformatted=format == "json",
            human=timestamp_format == "human",
            color=color == "always",
        )

    def format(self, entry: Mapping[str, Any]) -> str:
        return self._impl.format(rfc18.validate_event(entry))


def _clock(flux_handle: Flux) -> float:
    clock = getattr(flux_handle.cluster, "event_clock", None)
    return float(clock()) if callable(clock) else float(flux_handle.handle.backend.now())


def append(  # noqa: PLR0917 - key, name, context, as flux kvs eventlog append
    flux_handle: Flux,
    key: str,
    name: str,
    context: Mapping[str, Any] | str | None = None,
    timestamp: float | None = None,
    namespace: str | None = None,
) -> None:
    """Append the event ``name`` (with ``context``) to the eventlog ``key`` and commit."""
    check_key("append", key)
    check_str("append", "name", name)
    ts = _clock(flux_handle) if timestamp is None else timestamp
    event = rfc18.make_event(ts, name, context)
    txn = _get_kvstxn(flux_handle, None)
    txn.append(key, rfc18.encode_event(event))
    commit(flux_handle, namespace=namespace)


def get(flux_handle: Flux, key: str, namespace: str | None = None) -> list[EventLogEvent]:
    """Every event of the eventlog ``key`` (``ENOENT`` if there is none)."""
    check_key("get", key)
    raw = flux_handle._wait(flux_handle.handle.lookup(key, ns=_ns(namespace, "get")))
    return [EventLogEvent(e) for e in rfc18.decode(raw)]


class EventWatchFuture:
    """The events of a watched eventlog, one per :meth:`get_event`."""

    def __init__(self, watch: KVSWatchFuture) -> None:
        self.watch = watch
        self._events: deque[EventLogEvent] = deque()

    def get_event(self, autoreset: bool = True) -> EventLogEvent | None:
        """The next event (blocking until there is one); None once cancelled."""
        while not self._events:
            data = self.watch.get()
            if data is None:
                return None
            self._events.extend(EventLogEvent(e) for e in rfc18.decode(data))
        return self._events.popleft() if autoreset else self._events[0]

    def cancel(self) -> None:
        self.watch.cancel()


def event_watch_async(
    flux_handle: Flux, key: str, namespace: str | None = None, waitcreate: bool = False
) -> EventWatchFuture:
    """Watch the eventlog ``key``: every event in it, then each one appended."""
    check_key("event_watch_async", key)
    watch = kvs_watch_async(flux_handle, key, namespace, waitcreate=waitcreate, append=True)
    watch._raw = True
    return EventWatchFuture(watch)


def event_watch(
    flux_handle: Flux, key: str, namespace: str | None = None, waitcreate: bool = False
) -> Iterator[EventLogEvent]:
    """Iterate over the events of ``key`` as they come (forever, until broken off)."""
    fut = event_watch_async(flux_handle, key, namespace, waitcreate)
    try:
        while (event := fut.get_event()) is not None:
            yield event
    finally:
        fut.cancel()


def event_wait(  # noqa: PLR0917 - flux.job.event_wait's shape, with a key
    flux_handle: Flux,
    key: str,
    name: str,
    namespace: str | None = None,
    waitcreate: bool = False,
    timeout: float | None = None,
) -> EventLogEvent:
    """Block until the eventlog ``key`` holds an event called ``name``; return it.

    ``timeout`` (seconds, virtual in a simulation): ``ETIMEDOUT`` if it passes."""
    check_str("event_wait", "name", name)
    fut = event_watch_async(flux_handle, key, namespace, waitcreate)
    deadline = None if timeout is None else _clock(flux_handle) + timeout
    try:
        while True:
            if deadline is not None and not fut._events and not fut.watch.is_ready():
                left = deadline - _clock(flux_handle)
                if left <= 0:
                    raise TimedOut(errno.ETIMEDOUT, f"event {name!r} not in {key!r} in time")
                fut.watch.wait_for(left)
            event = fut.get_event()
            if event is None:
                raise OSError(errno.ENODATA, f"eventlog {key!r} ended before event {name!r}")
            if event.name == name:
                return event
    finally:
        fut.cancel()
