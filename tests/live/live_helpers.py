"""Helpers of the live tests: ``until``, and toy ranks that follow the rank
contract, for testing the live engine alone.

The leader keeps a dict and a version; a commit (ops ``{"key", "value"}``) bumps
the version and publishes a setroot whose ``rootref`` carries the whole dict as
JSON (a toy shortcut).  Followers relay commits and answer their client once the
setroot of the commit's version has arrived (read-your-writes).  ``Timer(kind=
"ping", data=[dst, n])`` makes a rank send ``n`` numbered ``LoadReq`` to ``dst``,
which answers each with a ``LoadResp``: traffic whose loss or duplication the
tests can count.
"""

from __future__ import annotations

import asyncio
import errno
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from kvs_sim.rank import messages as m


class ToyRank:
    def __init__(self, rank: int, parent: int, port: Any, config: Any = None) -> None:
        self.rank = rank
        self.parent = parent
        self.port = port
        self.seq = 0
        self.data: dict[str, Any] = {}
        self.started = False
        self.events: list[int] = []
        self.loads: list[str] = []
        self.pongs: list[str] = []
        self.parked: list[m.Reply] = []
        self.watches: dict[int, str] = {}

    def start(self) -> None:
        self.started = True
        if self.rank != 0:
            self.port.send(0, m.RootReq(origin=self.rank, ns="primary"))

    def _apply(self, ops: tuple[dict[str, Any], ...]) -> None:
        for op in ops:
            self.data[op["key"]] = op["value"]
        self.seq += 1
        keys = tuple(op["key"] for op in ops)
        self.port.publish(
            m.SetRoot(ns="primary", seq=self.seq, rootref=json.dumps(self.data), keys=keys)
        )
        self._notify(keys)

    def _set(self, seq: int, rootref: str) -> None:
        if seq > self.seq:
            self.seq = seq
            self.data = json.loads(rootref)
        ready = [r for r in self.parked if r.seq <= self.seq]
        self.parked = [r for r in self.parked if r.seq > self.seq]
        for r in ready:
            self.port.respond(r)

    def _notify(self, keys: tuple[str, ...]) -> None:
        for client, key in self.watches.items():
            if key in keys:
                self.port.respond(
                    m.Reply(client=client, value=self.data.get(key), seq=self.seq, final=False)
                )

    def handle(self, msg: Any) -> None:
        port = self.port
        if isinstance(msg, m.RootReq):
            port.send(
                msg.origin, m.RootResp(ns=msg.ns, seq=self.seq, rootref=json.dumps(self.data))
            )
        elif isinstance(msg, m.RootResp):
            self._set(msg.seq, msg.rootref)
        elif isinstance(msg, m.SetRoot):
            self.events.append(msg.seq)
            self._set(msg.seq, msg.rootref)
            self._notify(msg.keys)
        elif isinstance(msg, m.CommitReq) and self.rank == 0:
            self._apply(msg.ops)
            port.respond(m.Reply(client=msg.client, value={"seq": self.seq}, seq=self.seq))
        elif isinstance(msg, m.CommitReq):
            port.send(0, m.RelayReq(origin=self.rank, req=msg))
        elif isinstance(msg, m.RelayReq):
            inner = msg.req
            self._apply(inner.ops)
            reply = m.Reply(client=inner.client, value={"seq": self.seq}, seq=self.seq)
            port.send(msg.origin, m.RelayResp(reply=reply))
        elif isinstance(msg, m.RelayResp):
            self.parked.append(msg.reply)
            self._set(-1, "")
        elif isinstance(msg, m.LookupReq):
            if msg.key not in self.data:
                port.respond(m.Reply(client=msg.client, errnum=errno.ENOENT, errmsg=msg.key))
            else:
                port.respond(m.Reply(client=msg.client, value=self.data[msg.key], seq=self.seq))
        elif isinstance(msg, m.WatchReq):
            self.watches[msg.client] = msg.key
            port.respond(
                m.Reply(client=msg.client, value=self.data.get(msg.key), seq=self.seq, final=False)
            )
        elif isinstance(msg, m.WatchCancelReq):
            if self.watches.pop(msg.watch, None) is not None:
                port.respond(m.Reply(client=msg.watch, errnum=errno.ENODATA, final=True))
        elif isinstance(msg, m.Timer) and msg.kind == "ping":
            dst, n = msg.data
            for i in range(n):
                port.send(dst, m.LoadReq(origin=self.rank, ref=f"{self.rank}:{i}"))
        elif isinstance(msg, m.Timer) and msg.kind == "after":
            port.timer(msg.data, m.Timer(kind="fired"))
        elif isinstance(msg, m.Timer) and msg.kind == "fired":
            self.loads.append("fired")
        elif isinstance(msg, m.LoadReq):
            self.loads.append(msg.ref)
            port.send(msg.origin, m.LoadResp(ref=msg.ref, data=b"\x00pong"))
        elif isinstance(msg, m.LoadResp):
            self.pongs.append(msg.ref)
        elif isinstance(msg, m.StatsReq):
            raise RuntimeError("toy ranks crash on StatsReq")


def make_toy(rank: int, parent: int, port: Any, config: Any = None, **_: Any) -> ToyRank:
    return ToyRank(rank, parent, port, config)


async def until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` every 5 ms; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
