"""``kvs-sim kvs eventlog append|get|wait-event``: RFC 18 eventlogs from the shell.

Theory of operation
-------------------
``append [-t TS] KEY NAME [CONTEXT...]`` commits one event with the ``APPEND``
flag (the words of CONTEXT joined by spaces must be a JSON object; ``-t 0`` or
none: the wall clock, as this is a live cluster).  ``get`` prints the events,
``-w`` keeps printing the ones appended later (a watch with ``WATCH_APPEND``,
``-c N`` stops after N), ``-W`` waits for a missing eventlog to appear.
``wait-event KEY NAME`` watches until an event called NAME is there, prints it
(``-q``: not; ``-v``: the events before it too) and exits 0; ``-t`` gives up
after a duration with exit 1.  Events print as ``TIMESTAMP NAME k=v...``, or as
RFC 18 JSON with ``-u``, or with relative times with ``-H``
(:class:`kvs_sim.core.eventlog.EventFormatter`).  An eventlog that is not
RFC 18 fails with ``cannot decode improperly formatted eventlog`` and why.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from kvs_sim.core import eventlog as rfc18
from kvs_sim.core import flags as kf
from kvs_sim.core.errors import InvalidArgument
from kvs_sim.core.txn import Txn
from kvs_sim.live.kvs_tool import KvsError

if TYPE_CHECKING:
    from kvs_sim.live.kvs_tool import Tool


def _formatter(a: argparse.Namespace) -> rfc18.EventFormatter:
    """-L/--color: None (given alone) is always, "" (not given) auto, or never when
    $NO_COLOR is set; only an explicit ``always`` conflicts with -u, as in Flux."""
    when = a.color
    if when == "":
        when = "never" if os.environ.get("NO_COLOR") else "auto"
    if a.unformatted and (a.human or when == "always"):
        raise KvsError("do not specify --unformatted with --human or --color=always")
    color = when in (None, "always") or (when == "auto" and sys.stdout.isatty())
    color = color and not a.unformatted  # RFC 18 JSON lines are never coloured
    return rfc18.EventFormatter(unformatted=a.unformatted, human=a.human, color=color)


def _events(data: Any) -> list[dict[str, Any]]:
    try:
        return rfc18.decode(data)
    except InvalidArgument as exc:
        raise KvsError("cannot decode improperly formatted eventlog", 0, exc.detail) from None


async def run(tool: Tool, a: argparse.Namespace) -> None:
    if a.ev_cmd == "append":
        await append(tool, a)
    elif a.ev_cmd == "get":
        await get(tool, a)
    else:
        await wait_event(tool, a)


async def append(tool: Tool, a: argparse.Namespace) -> None:
    context = " ".join(a.context) if a.context else None
    timestamp = a.timestamp if a.timestamp > 0 else time.time()
    try:
        if a.timestamp < 0:
            raise InvalidArgument(f"invalid timestamp {a.timestamp}")
        event = rfc18.make_event(timestamp, a.name, context)
        txn = Txn()
        txn.append(a.key, rfc18.encode_event(event))
    except InvalidArgument as exc:
        raise KvsError(a.key, 0, f"invalid event: {exc.detail}") from None
    await tool.commit(a.key, txn)


async def get(tool: Tool, a: argparse.Namespace) -> None:
    if a.watch and a.stream:  # Flux refuses the combination (EINVAL)
        raise KvsError(a.key, errno.EINVAL)
    fmt = _formatter(a)
    if not (a.watch or a.waitcreate):
        for event in _events(await tool.lookup(a.key)):
            tool.line(fmt.format(event))
        return
    shown = [0]

    def show(value: Any) -> bool:
        for event in _events(value):
            if a.count == 0 or shown[0] < a.count:
                tool.line(fmt.format(event))
            shown[0] += 1
        tool.flush()
        return not a.watch or (a.count > 0 and shown[0] >= a.count)

    # -W alone: one answer, the whole eventlog once it exists; -w: the appends
    bits = kf.WATCH | (kf.WAITCREATE if a.waitcreate else 0)
    bits |= kf.WATCH_APPEND if a.watch else 0
    await tool.watch(a.key, bits, show)


async def wait_event(tool: Tool, a: argparse.Namespace) -> None:
    fmt = _formatter(a)
    got = [False]

    def look(value: Any) -> bool:
        for event in _events(value):
            if event["name"] == a.event:
                if not a.quiet:
                    tool.line(fmt.format(event))
                got[0] = True
                break
            if a.verbose:
                tool.line(fmt.format(event))
        tool.flush()
        return got[0]

    bits = kf.WATCH | kf.WATCH_APPEND | (kf.WAITCREATE if a.waitcreate else 0)
    try:
        await asyncio.wait_for(tool.watch(a.key, bits, look), a.wait_timeout)
    except TimeoutError:
        raise KvsError(f"wait-event timeout on event '{a.event}'") from None
    except KvsError as exc:
        if exc.errnum == errno.ENOENT:
            raise KvsError(f"eventlog path {a.key} not found") from None
        raise
    if not got[0]:
        raise KvsError(f"event '{a.event}' never received")
