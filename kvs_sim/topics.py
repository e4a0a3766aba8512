"""MQTT topic names, topic filters, and an in-process publish/subscribe bus.

Theory of operation
-------------------
Shared by the live MQTT engine (which must agree with the broker on what a
subscription receives) and by anything in-process that wants MQTT-style routing.
The rules are MQTT 3.1.1 / 5.0 section 4.7:

* Topic names and filters are non-empty UTF-8 strings without NUL, at most 65,535
  bytes, split into levels by ``/``.  Empty levels are legal (``a//b``, ``/x``).
* Names never contain wildcards.  In filters ``+`` matches exactly one level and
  must fill its level; ``#`` matches the parent level and any number of levels
  below it, must fill its level, and must be the last level.
* A topic starting with ``$`` (``$SYS/...``) is not matched by a filter whose first
  level is a wildcard (``#``, ``+/...``); only an explicit ``$...`` first level
  matches it.

:func:`topic_matches` does not validate (validate once, at subscribe and publish
time); it compares split levels, with a plain string comparison for filters
without wildcards, which is several times faster than compiling a matcher per
call (paho's ``topic_matches_sub``).

:class:`TopicBus` keeps exact filters in a dict keyed by topic and wildcard
filters in a list, so a publish costs one dict lookup plus one match per wildcard
subscription.  Callbacks run synchronously, in subscription order.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

MAX_TOPIC_BYTES = 65535
ROOT = "kvs-sim"
"""First level of every kvs-sim topic: ``kvs-sim/<cluster>/...``."""
_QUOTE = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\0": "%00"}

Callback = Callable[[str, Any], Any]
"""A subscriber: ``callback(topic, msg)``."""


def quote_level(name: str) -> str:
    """Percent-encode what a topic level cannot hold literally (``/ + # % NUL``)."""
    if not any(c in name for c in _QUOTE):
        return name
    return "".join(_QUOTE.get(c, c) for c in name)


def event_topic(cluster: str, ns: str, kind: str) -> str:
    """Where a cluster's events appear: ``kvs-sim/<cluster>/event/<ns>/<kind>``,
    ``kind`` being ``setroot`` or ``removed``.  The simulator's bus and the live
    MQTT engine use the same names, so one filter serves both."""
    return f"{ROOT}/{cluster}/event/{quote_level(ns)}/{kind}"


def _check_common(kind: str, s: str) -> None:
    if not isinstance(s, str):
        raise ValueError(f"{kind} must be a str, not {type(s).__name__}")
    if not s:
        raise ValueError(f"invalid {kind} '': must not be empty")
    if "\0" in s:
        raise ValueError(f"invalid {kind} {s!r}: contains NUL")
    try:
        size = len(s.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"invalid {kind} {s!r}: not encodable as UTF-8") from None
    if size > MAX_TOPIC_BYTES:
        raise ValueError(f"invalid {kind}: {size} bytes (at most {MAX_TOPIC_BYTES})")


def validate_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic *name* (no wildcards), else raise
    :class:`ValueError` naming the problem."""
    _check_common("topic", topic)
    if "+" in topic or "#" in topic:
        raise ValueError(f"invalid topic {topic!r}: wildcards + and # are only for filters")
    return topic


def validate_filter(filt: str) -> str:
    """Return ``filt`` if it is a valid topic *filter*, else raise :class:`ValueError`."""
    _check_common("topic filter", filt)
    levels = filt.split("/")
    last = len(levels) - 1
    for i, level in enumerate(levels):
        if "#" in level:
            if level != "#":
                raise ValueError(f"invalid topic filter {filt!r}: '#' must fill its level")
            if i != last:
                raise ValueError(f"invalid topic filter {filt!r}: '#' must be the last level")
        elif "+" in level and level != "+":
            raise ValueError(f"invalid topic filter {filt!r}: '+' must fill its level")
    return filt


def is_wildcard(filt: str) -> bool:
    """True if ``filt`` contains ``+`` or ``#``."""
    return "+" in filt or "#" in filt


def topic_matches(filt: str, topic: str) -> bool:
    """Does the (valid) filter ``filt`` match the (valid) topic name ``topic``?"""
    if "+" not in filt and "#" not in filt:
        return filt == topic
    if topic[:1] == "$" and filt[:1] in ("+", "#"):
        return False
    f = filt.split("/")
    t = topic.split("/")
    nt = len(t)
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= nt:
            return False
        if level != "+" and level != t[i]:
            return False
    return len(f) == nt


class TopicBus:
    """Synchronous in-process publish/subscribe with MQTT filter semantics.

    ``publish`` calls every matching callback as ``callback(topic, msg)`` in the
    order the subscriptions were made (a callback subscribed twice is called
    twice).  Subscriptions made during a publish see only later publishes; a
    subscription removed during a publish is not called if its turn has not come.
    An exception from a callback propagates out of ``publish`` and the remaining
    callbacks are not called.
    """

    __slots__ = ("_exact", "_subs", "_tokens", "_wild")

    def __init__(self) -> None:
        self._tokens = count(1)
        self._subs: dict[int, tuple[str, Callback]] = {}
        self._exact: dict[str, list[int]] = {}
        self._wild: list[int] = []

    def subscribe(self, filt: str, callback: Callback) -> int:
        """Subscribe ``callback`` to ``filt``; returns a token for :meth:`unsubscribe`."""
        validate_filter(filt)
        if not callable(callback):
            raise ValueError(f"callback must be callable, not {callback!r}")
        token = next(self._tokens)
        self._subs[token] = (filt, callback)
        if is_wildcard(filt):
            self._wild.append(token)
        else:
            self._exact.setdefault(filt, []).append(token)
        return token

    def unsubscribe(self, token: int) -> None:
        """Remove a subscription; :class:`KeyError` if ``token`` is not subscribed."""
        try:
            filt, _ = self._subs.pop(token)
        except KeyError:
            raise KeyError(f"no subscription with token {token!r}") from None
        if is_wildcard(filt):
            self._wild.remove(token)
        else:
            tokens = self._exact[filt]
            tokens.remove(token)
            if not tokens:
                del self._exact[filt]

    def publish(self, topic: str, msg: Any) -> int:
        """Deliver ``msg`` to every matching subscriber; returns how many were called."""
        validate_topic(topic)
        exact = self._exact.get(topic)
        hits = [tok for tok in self._wild if topic_matches(self._subs[tok][0], topic)]
        if exact:
            hits = sorted(hits + exact) if hits else list(exact)
        subs = self._subs
        called = 0
        for tok in hits:
            sub = subs.get(tok)
            if sub is not None:
                sub[1](topic, msg)
                called += 1
        return called

    def subscriptions(self) -> list[tuple[int, str]]:
        """``(token, filter)`` for every live subscription, in subscription order."""
        return [(tok, filt) for tok, (filt, _) in self._subs.items()]

    def __len__(self) -> int:
        return len(self._subs)
