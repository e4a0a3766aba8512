"""Moving messages through one live rank process: routing, tree events, delivery.

Theory of operation
-------------------
:class:`Pump` is the part of :class:`~kvs_sim.live.engine.LiveEngine` that
moves the messages hosted ranks produce and receive.  It makes no protocol
decision, exactly as the virtual-time engine makes none, so rank logic is
shared line for line.

Routing.  A rank's ``send(dst, msg)`` goes to the *next hop* on the tree overlay
(:class:`~kvs_sim.overlay.Overlay`): the payload, an envelope naming the
final ``dst`` and the ``src`` rank, is published to ``kvs-sim/<c>/rank/<hop>``.
The process subscribed to that topic delivers the message if ``dst == hop`` and
otherwise forwards it one hop further (:meth:`Pump.route`); the rank at ``hop``
never sees it, as a Flux broker routes a request without showing it to its KVS
module.  With ``local`` a hop to a rank hosted in the same process skips the
broker (one loop turn later).

Events.  ``publish(event)`` always goes to ``kvs-sim/<c>/event/<ns>/<kind>`` for
observers.  In ``tree`` mode the event then moves down the overlay like Flux's,
with one publish per event and destination process
(:mod:`kvs_sim.live.tree_events`).  In ``broker`` mode every engine subscribes
to ``event/#`` and delivers each event to every hosted rank but its source (the
broker does the fan-out).

Faults.  Every message crossing a tree link into this process, by the broker or
in-process, passes :meth:`~kvs_sim.live.faults.FaultFilter.crossing`, and every
delivery :meth:`~kvs_sim.live.faults.FaultFilter.arriving`; a rank crashed in
this process (:mod:`kvs_sim.live.incarnation`) neither takes nor forwards.

Delivery.  Each hosted rank handles one message at a time: everything is called
from the event loop thread, and ``handle`` never blocks.  Messages that arrive
before the ranks are started are held and delivered, in order, after
``start()``.  A payload that does not decode, a message for a rank not hosted
here, or an exception in ``handle`` is logged and dropped; it never stops the
engine.  QoS 1 redeliveries (after a reconnect) are dropped by envelope id.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import OrderedDict
from typing import Any

from kvs_sim.live import codec
from kvs_sim.live import topics as tp
from kvs_sim.live.codec import Envelope
from kvs_sim.live.faults import FaultFilter
from kvs_sim.live.incarnation import Incarnations
from kvs_sim.live.transport import Incoming, Transport
from kvs_sim.live.tree_events import TreeEvents
from kvs_sim.overlay import Overlay
from kvs_sim.rank.messages import NamespaceRemoved, SetRoot

log = logging.getLogger("kvs_sim.live")

_EVENT_KIND = {SetRoot: "setroot", NamespaceRemoved: "removed"}
_DEDUP_WINDOW = 20_000


class Pump:
    """Routing, events and delivery for the ranks one process hosts (a base of
    :class:`~kvs_sim.live.engine.LiveEngine`, which sets the attributes below)."""

    cluster: str
    size: int
    events: str
    local: bool
    overlay: Overlay
    ranks: dict[int, Any]
    stats: dict[str, int]
    faults: FaultFilter
    incarnations: Incarnations
    transport: Transport
    tree: TreeEvents
    _down: set[int]
    _gen: dict[int, int]
    _held: list[tuple[int, Any]] | None
    _stopped: bool

    def _init_pump(self) -> None:
        self._rank_topics = [tp.rank_topic(self.cluster, r) for r in range(self.size)]
        self._incarnation = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._seen: OrderedDict[str, None] = OrderedDict()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    # -- inbound -------------------------------------------------------------

    def _decode(self, inc: Incoming, sender: str = "") -> Envelope | None:
        self.stats["received"] += 1
        try:
            env = codec.decode_envelope(inc.payload)
        except codec.CodecError as exc:
            self._drop(inc.topic, str(exc))
            return None
        if env.id:
            key = f"{sender}/{env.id}" if sender else env.id
            if key in self._seen:
                self.stats["dropped"] += 1
                log.debug("duplicate %s on %s dropped", env.id, inc.topic)
                return None
            self._seen[key] = None
            if len(self._seen) > _DEDUP_WINDOW:
                self._seen.popitem(last=False)
        return env

    def _drop(self, topic: str, why: str) -> None:
        self.stats["dropped"] += 1
        log.warning("dropped a payload on %s: %s", topic, why)

    def route(self, hop: int, env: Envelope) -> None:
        """A message arrived for ``hop``: deliver it there or forward it."""
        msg = env.msg
        if hop not in self.ranks:
            return self._drop(tp.rank_topic(self.cluster, hop), f"rank {hop} is not hosted here")
        if self._down and hop in self._down:  # crashed: it neither takes nor forwards
            if env.dst == hop:
                return self.incarnations.refuse(hop, msg)
            self.stats["dropped"] += 1
            return None
        if self.faults.active and env.src != hop and 0 <= env.src < self.size:
            prev = self.overlay.next_hop(hop, env.src)
            if self.faults.crossing(prev, hop, msg, lambda: self.route(hop, env)):
                return None
        if env.dst == hop:
            return self.deliver(hop, msg)
        if not 0 <= env.dst < self.size:
            return self._drop(tp.rank_topic(self.cluster, hop), f"no rank {env.dst}")
        self.stats["forwarded"] += 1
        return self.send_hop(self.overlay.next_hop(hop, env.dst), env.dst, env.src, msg)

    def _broker_event(self, src: int, rank: int, msg: Any) -> None:
        if self.faults.active and self.faults.crossing_path(
            max(src, 0), rank, msg, lambda: self._broker_event(src, rank, msg)
        ):
            return
        self.deliver(rank, msg)

    def deliver(self, rank: int, msg: Any) -> None:
        """Hand ``msg`` to hosted ``rank`` (held until the ranks are started)."""
        if self._stopped:
            return
        if self._held is not None:
            self._held.append((rank, msg))
            return
        if self._down and rank in self._down:
            return self.incarnations.refuse(rank, msg)
        if self.faults.active:
            gen = self._gen[rank]
            if self.faults.arriving(rank, msg, lambda: self._handle(rank, msg, gen)):
                return None
        return self._handle(rank, msg)

    def _handle(self, rank: int, msg: Any, gen: int | None = None) -> None:
        if self._stopped:
            return
        if gen is not None and gen != self._gen[rank]:
            self.stats["dropped"] += 1  # queued for an incarnation that crashed
            return
        self.stats["delivered"] += 1
        try:
            self.ranks[rank].handle(msg)
        except Exception:
            log.exception("rank %d failed handling %s; message dropped", rank, type(msg).__name__)

    # -- outbound ------------------------------------------------------------

    def send_hop(self, hop: int, dst: int, src: int, msg: Any) -> None:
        """Put ``msg`` (final destination ``dst``) on the topic of rank ``hop``."""
        if self.local and hop in self.ranks:
            if hop != dst and not self.faults.active and not self._down and 0 <= dst < self.size:
                # No fault to check and no crashed rank here: the ranks of this
                # process between here and ``dst`` only forward, so cross them at
                # once; a message leaving the process then shares this turn's write
                # (a commit's relay response with the setroot it follows).
                next_hop = self.overlay.next_hop
                while hop != dst and hop in self.ranks:
                    self.stats["forwarded"] += 1
                    hop = next_hop(hop, dst)
                if hop not in self.ranks:
                    return self._publish_hop(hop, dst, src, msg)
            self.loop.call_soon(self.route, hop, Envelope(dst, src, msg))
            return None
        return self._publish_hop(hop, dst, src, msg)

    def _publish_hop(self, hop: int, dst: int, src: int, msg: Any) -> None:
        ident = f"{self._incarnation}:{next(self._ids)}"
        try:
            payload = codec.encode_envelope(dst, src, msg, ident)
        except codec.CodecError as exc:
            return self._unencodable(msg, exc)
        self.transport.publish(self._rank_topics[hop], payload)
        return None

    def _unencodable(self, msg: Any, exc: Exception) -> None:
        """A rank produced a message the codec refuses: log it, drop it, carry on."""
        self.stats["dropped"] += 1
        log.error("cannot send %s: %s", type(msg).__name__, exc)

    def publish_event(self, src: int, msg: Any) -> None:
        """An event from ``src`` (the leader): always on its event topic, which
        observers and rank 0's children (tree mode) or every process (broker
        mode) subscribe to."""
        ns = getattr(msg, "ns", "")
        kind = _EVENT_KIND.get(type(msg), type(msg).__name__.lower())
        share = self.tree.event_share() if self.events == "tree" and src == 0 else None
        self._publish_event(tp.event_topic(self.cluster, ns, kind), src, msg, share)
        if self.events == "tree":
            if src == 0:
                self.tree.from_leader(msg, share or ())
            else:
                self.tree.from_rank(src, msg)

    def _publish_event(
        self, topic: str, src: int, msg: Any, to: tuple[int, ...] | None = None
    ) -> None:
        ident = f"{self._incarnation}:{next(self._ids)}"
        try:
            payload = codec.encode_envelope(-1, src, msg, ident, to)
        except codec.CodecError as exc:
            return self._unencodable(msg, exc)
        self.transport.publish(topic, payload)
        return None
