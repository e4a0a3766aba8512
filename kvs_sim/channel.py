"""Channels: recorded causal hand-offs between client processes.

Theory of operation
-------------------
A process that passes something to another (a version number, most often) makes
a *causal hand-off*: whatever the sender did before sending happened before what
the receiver does after receiving.  The KVS cannot see it, so the history must:
``send(handle, value)`` and ``recv(handle)`` are recorded as ``send``/``recv``
operations sharing one token, from which the causal checker learns that the
receiver's later reads must reflect the sender's earlier commits.

A channel works on any cluster that offers ``now``, ``recorder``,
``call_later(delay, fn, *args)`` and ``future()``: the simulated
:class:`~kvs_sim.sim.cluster.Cluster` (virtual time) and the live
:class:`~kvs_sim.live.cluster.LiveCluster` (asyncio, real time).  Values arrive
``latency`` seconds after they are sent, in order.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Host(Protocol):
    @property
    def now(self) -> float: ...

    @property
    def recorder(self) -> Any: ...

    def call_later(self, delay: float, fn: Any, *args: Any) -> Any: ...

    def future(self) -> Any: ...

    def next_channel_name(self) -> str: ...


class Channel:
    """A FIFO between client processes; see the module docstring."""

    def __init__(self, cluster: _Host, latency: float = 0.0) -> None:
        if not latency >= 0:
            raise ValueError(f"channel latency must be >= 0 seconds, got {latency!r}")
        self.cluster = cluster
        self.latency = latency
        self.name = cluster.next_channel_name()
        self._items: list[tuple[str, Any]] = []
        self._getters: list[tuple[Any, Any]] = []
        self._sent = 0

    def __len__(self) -> int:
        """Values that have arrived and wait for a receiver."""
        return len(self._items)

    def send(self, handle: Any, value: Any) -> None:
        """Send ``value`` from ``handle``'s process; it arrives after ``latency``."""
        self._sent += 1
        token = f"{self.name}.{self._sent}"
        self._record(handle, "send", token, value)
        self.cluster.call_later(self.latency, self._arrive, token, value)

    def recv(self, handle: Any) -> Any:
        """A future of the next value, received by ``handle``'s process."""
        fut = self.cluster.future()
        self._getters.append((handle, fut))
        self._match()
        return fut

    def _arrive(self, token: str, value: Any) -> None:
        self._items.append((token, value))
        self._match()

    def _match(self) -> None:
        while self._items and self._getters:
            token, value = self._items.pop(0)
            handle, fut = self._getters.pop(0)
            self._record(handle, "recv", token, value)
            fut.set_result(value)

    def _record(self, handle: Any, op: str, token: str, value: Any) -> None:
        rec = self.cluster.recorder
        if rec is not None:
            now = self.cluster.now
            rec.op(
                process=handle.name,
                rank=handle.rank,
                op=op,
                token=token,
                value=value,
                invoke=now,
                complete=now,
            )
