"""The port: everything a rank may do to the outside world.

A rank is a state machine.  The engine calls ``rank.handle(msg)`` for one message
at a time; while handling it the rank talks to the world only through the
:class:`Port` it was built with.  The virtual-time engine and the live MQTT
engine each implement this protocol; rank code never sees which one it has, never
reads a clock other than :meth:`Port.now`, and never blocks.

Service time: a rank declares how long the current message keeps it busy with
:meth:`Port.work`.  Everything it sends while handling the message leaves when
that work is done, and the rank takes its next message no earlier.  (The live
engine runs in real time and only meters declared work, for a slow rank, which
stays busy a multiple of it; otherwise real CPU time is the cost.)
"""

from __future__ import annotations

from typing import Any, Protocol


class Port(Protocol):
    """What a rank may do.  One port serves the rank being handled right now."""

    def now(self) -> float:
        """Current time in seconds (virtual or wall, the rank cannot tell)."""
        ...

    def work(self, seconds: float) -> None:
        """Declare that handling the current message costs ``seconds`` of service."""
        ...

    def send(self, dst: int, msg: Any) -> None:
        """Send ``msg`` to rank ``dst``; it travels the overlay hop by hop."""
        ...

    def publish(self, msg: Any) -> None:
        """Publish an event to every other rank (tree forwarding or broker fan-out,
        as the engine is configured)."""
        ...

    def respond(self, msg: Any) -> None:
        """Deliver a :class:`~kvs_sim.rank.messages.Reply` to a local client."""
        ...

    def timer(self, delay: float, msg: Any) -> None:
        """Deliver ``msg`` (usually a :class:`~kvs_sim.rank.messages.Timer`) back to
        this rank after ``delay`` seconds, queued like any other message."""
        ...
