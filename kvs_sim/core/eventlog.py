"""RFC 18 eventlogs: a KVS value of newline-terminated JSON events, only appended to.

Theory of operation
-------------------
An *eventlog* is an ordinary KVS value whose bytes are zero or more lines, each
one JSON object ``{"timestamp": T, "name": N, "context": {...}}`` followed by a
newline: ``timestamp`` a non-negative number (seconds since the epoch, or of
virtual time in a simulation), ``name`` a non-empty string, ``context`` an
optional object.  Writers only ever *append* one encoded event with the
``APPEND`` transaction flag, so readers see a growing log and a watch with
``WATCH_APPEND`` is told only the new lines.

This module is pure: :func:`encode_event` checks and encodes one event,
:func:`decode` splits and checks a whole log (or a piece appended to one), and
:func:`format_event` renders an event the way ``flux kvs eventlog get`` prints
it (text, RFC 18 JSON with ``-u``, human-readable times with ``-H``).  Any
malformed input is :class:`~kvs_sim.core.errors.InvalidArgument` (``EINVAL``,
as Flux's ``eventlog_decode``) naming the line and what is wrong with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgument

__all__ = ["EventFormatter", "decode", "encode_event", "make_event", "validate_event"]


def validate_event(event: Any, where: str = "event") -> dict[str, Any]:
    """``event`` as a dict if it is a valid RFC 18 event, else ``EINVAL`` saying why."""
    if not isinstance(event, Mapping):
        raise InvalidArgument(f"{where}: an event must be a JSON object, got {event!r}")
    ts = event.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise InvalidArgument(f"{where}: 'timestamp' must be a number, got {ts!r}")
    if not math.isfinite(ts) or ts < 0:
        raise InvalidArgument(f"{where}: 'timestamp' must be a finite number >= 0, got {ts!r}")
    name = event.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"{where}: 'name' must be a non-empty string, got {name!r}")
    if "context" in event and not isinstance(event["context"], Mapping):
        raise InvalidArgument(f"{where}: 'context' must be a JSON object, got {event['context']!r}")
    return dict(event)


def make_event(
    timestamp: float, name: str, context: Mapping[str, Any] | str | None = None
) -> dict[str, Any]:
    """A checked event; ``context`` may be a mapping or the JSON text of one."""
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except ValueError as exc:
            raise InvalidArgument(f"event context is not JSON: {context!r} ({exc})") from None
    event: dict[str, Any] = {"timestamp": timestamp, "name": name}
    if context is not None:
        event["context"] = context
    return validate_event(event)


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as the bytes to append: compact JSON and a newline."""
    checked = validate_event(event)
    return json.dumps(checked, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(data: bytes | str | None) -> list[dict[str, Any]]:
    """The events of an eventlog value (``None`` or empty: no events).

    Every line must end in a newline and hold one valid event, as Flux requires."""
    if data is None:
        return []
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError:
        raise InvalidArgument("eventlog is not UTF-8 text") from None
    if not text:
        return []
    if not text.endswith("\n"):
        raise InvalidArgument("eventlog does not end in a newline (a cut-off event?)")
    events = []
    for number, line in enumerate(text[:-1].split("\n"), start=1):
        where = f"eventlog line {number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise InvalidArgument(f"{where}: not JSON ({exc}): {line[:60]!r}") from None
        events.append(validate_event(obj, where))
    return events


_COLORS = {"name": "\033[33m", "time": "\033[32m", "key": "\033[34m", "value": "\033[35m"}
_RESET = "\033[0m"


class EventFormatter:
    """Renders events as ``flux kvs eventlog`` prints them.

    ``unformatted``: the RFC 18 JSON line.  Otherwise ``TIMESTAMP NAME k=v ...``
    with the timestamp as ``%f`` (``human``: ``[+SECONDS]`` since the first event
    shown, a bracketed clock time on the first).  ``color`` adds ANSI colours.
    """

    def __init__(self, *, unformatted: bool = False, human: bool = False, color: bool = False):
        if unformatted and (human or color):
            raise ValueError("--unformatted cannot be combined with --human or --color=always")
        self.unformatted = unformatted
        self.human = human
        self.color = color
        self.t0: float | None = None

    def _c(self, what: str, text: str) -> str:
        return f"{_COLORS[what]}{text}{_RESET}" if self.color else text

    def _time(self, ts: float) -> str:
        if not self.human:
            return self._c("time", f"{ts:f}")
        if self.t0 is None:
            self.t0 = ts
            return self._c("time", f"[{_clock(ts)}]")
        return self._c("time", f"[{ts - self.t0:>+11.6f}]")

    def format(self, event: Mapping[str, Any]) -> str:
        """One event as one line (no newline)."""
        if self.unformatted:
            shown = {k: v for k, v in event.items() if not (k == "context" and not v)}
            return json.dumps(shown, separators=(",", ":"), ensure_ascii=False)
        parts = [self._time(float(event["timestamp"])), self._c("name", str(event["name"]))]
        for key, value in (event.get("context") or {}).items():
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            parts.append(f"{self._c('key', key)}={self._c('value', text)}")
        return " ".join(parts)


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _clock(ts: float) -> str:
    """A timestamp as ``MonDD HH:MM`` in UTC, by calendar arithmetic (the core
    reads no clock and imports no time module)."""
    days, secs = divmod(int(ts), 86400)
    # days since 1970-01-01 -> civil date (the proleptic Gregorian calendar)
    z = days + 719468
    era, doe = divmod(z, 146097)
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    del era
    return f"{_MONTHS[month - 1]}{day:02d} {secs // 3600:02d}:{secs % 3600 // 60:02d}"
