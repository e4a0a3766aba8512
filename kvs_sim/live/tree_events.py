"""Tree-mode events of one live engine: down the overlay, one publish per boundary.

Theory of operation
-------------------
In ``--events tree`` an event moves down the overlay as in Flux: each rank takes
it from its parent and passes it to its children.  Between ranks of one process
(``--local``) that is a function call; between processes it is an MQTT publish
on ``kvs-sim/<c>/down/<r>``, which the processes hosting children of ``r``
subscribe to.  What costs is the number of publishes, so :class:`TreeEvents`
sends **one per event and destination process**, not one per link:

* The children to reach in other processes are grouped by the process that
  hosts them, known from the retained statuses every engine reads
  (``LiveEngine._host``).  Each group goes in one publish on the ``down`` topic
  of its lowest parent, which that process subscribes to, and the envelope's
  ``to`` names the group's ranks; a process that reads the topic for other
  children takes only the ranks it hosts.  A child whose host is not known yet
  travels with its siblings on its own parent's topic.
* Without link faults (the usual case) the boundary of a process's subtree is
  fixed, so the forward is published *before* the event is handed to any rank
  here: for a setroot from rank 0 it leaves in the same write as the committer's
  reply and the event-topic publish, and the ranks here apply it while the next
  process does too.  Only then do the in-process ranks take it, parent before
  child, in one loop turn.
* The leader's own event-topic publish doubles as the forward to processes it
  feeds: once its ancestors' hosts are known, a process whose ranks have parents
  in the leader's process subscribes to the event topic and says so in its
  status (``"events": true``); the leader's process then names those ranks in the
  event-topic envelope's ``to`` instead of publishing on ``down/<r>`` for them
  (a commit on rank 0 costs 3 publishes instead of 4).  A process whose status
  says nothing of it (starting, restarted, down) gets ``down/<r>`` as before.
* With a fault active (:mod:`kvs_sim.live.faults`) or a rank here crashed, an
  event moves hop by hop, each link checked as it is crossed, and the forwards
  a loop turn produced leave together at the end of the turn, grouped as above.

``--no-local`` (every hop through the broker) uses the hop-by-hop path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kvs_sim.live import topics as tp

if TYPE_CHECKING:
    from kvs_sim.live.codec import Envelope
    from kvs_sim.live.engine import LiveEngine


class TreeEvents:
    """Forwarding of tree events for ``engine`` (see the module docstring)."""

    def __init__(self, engine: LiveEngine) -> None:
        self.engine = engine
        self.overlay = engine.overlay
        self._boundary: dict[int, tuple[int, ...]] = {}
        self.readers: set[str] = set()
        """Processes (status topic tails) that read the leader's event topic."""
        self._pending: dict[int, tuple[Any, list[int]]] = {}
        """Hop-by-hop forwards of this loop turn: id(event) -> (event, senders)."""

    @property
    def _direct(self) -> bool:
        """Whole subtrees at once: in-process hops direct, no fault to check and
        no crashed rank here (a crashed rank forwards nothing)."""
        eng = self.engine
        return eng.local and not eng.faults.active and not eng._down

    # -- entry points ----------------------------------------------------------

    def from_leader(self, msg: Any, skip: tuple[int, ...] = ()) -> None:
        """Rank 0 published ``msg`` (from inside its ``handle``).  Its children in
        other processes read the event topic; those here take it next turn.
        ``skip``: boundary ranks the event-topic publish already addresses."""
        eng = self.engine
        if not eng.local:
            return
        links = [(0, c) for c in self.overlay.children[0] if c in eng.ranks]
        if not links:
            return
        if self._direct:
            self._send_boundary(links, msg, skip)
            eng.loop.call_soon(self.take, links, msg, True)
        else:
            eng.loop.call_soon(self.take, links, msg)

    def event_share(self) -> tuple[int, ...] | None:
        """The boundary ranks of rank 0's subtree here whose processes read the
        event topic (their status says so): the event-topic publish addresses
        them (its envelope's ``to``), which saves a ``down`` publish each."""
        eng = self.engine
        if not (eng.local and self.readers and self._direct):
            return None
        hosts = eng._host
        share = [
            r
            for c in self.overlay.children[0]
            if c in eng.ranks
            for r in self.boundary(c)
            if hosts.get(r) in self.readers
        ]
        return tuple(sorted(share)) or None

    def status(self, host: str, doc: dict[str, Any]) -> None:
        """A process's status: does it read the leader's event topic?"""
        if doc.get("events") is True:
            self.readers.add(host)
        else:
            self.readers.discard(host)

    async def follow_leader(self) -> None:
        """Once the ancestors' hosts are known: if the leader's process feeds ranks
        here (their parents are hosted there), take its events from the event
        topic, and say so in this process's status (:meth:`event_share`)."""
        eng = self.engine
        leader = eng._host.get(0)
        if eng.events != "tree" or not eng.local or leader is None or 0 in eng.ranks:
            return
        parent_of = self.overlay.parent
        if not any(
            r != 0 and parent_of[r] in eng._parents and eng._host.get(parent_of[r]) == leader
            for r in eng.hosted
        ):
            return
        if 0 not in eng._parents:
            await eng.transport.subscribe(tp.event_filter(eng.cluster))
        eng.reads_events = True
        eng._announce()

    def from_rank(self, src: int, msg: Any) -> None:
        """A rank other than 0 published an event: to its children, next turn."""
        self.engine.loop.call_soon(self.forward, src, msg)

    def on_event_topic(self, env: Envelope) -> None:
        """The leader's event, read from its event topic (rank 0 is elsewhere): for
        the children of 0 hosted here, and for the ranks here its ``to`` names
        (fed by ranks of the leader's process, see :meth:`event_share`)."""
        eng = self.engine
        links = [(0, c) for c in self.overlay.children[0] if c in eng.ranks]
        if env.to is not None:
            parent_of = self.overlay.parent
            links += [
                (parent_of[r], r)
                for r in env.to
                if r in eng.ranks and 0 < r < eng.size and parent_of[r] in eng._parents
                and parent_of[r] != 0
            ]  # fmt: skip
        self.take(links, env.msg)

    def on_down(self, env: Envelope, topic: str) -> None:
        """An event another process forwarded on ``down/<env.src>`` (already
        checked to be a parent of a rank here): for the ranks ``to`` names that
        are hosted here, else for every child of ``src`` hosted here."""
        eng = self.engine
        parent_of = self.overlay.parent
        ranks = self.overlay.children[env.src] if env.to is None else env.to
        links = []
        for r in ranks:
            if r not in eng.ranks:
                continue  # another process's
            if not 0 < r < eng.size or parent_of[r] not in eng._parents:
                eng._drop(topic, f"rank {r}'s parent is not in another process")
                continue
            links.append((parent_of[r], r))
        self.take(links, env.msg)

    # -- inside this process ---------------------------------------------------

    def take(self, links: list[tuple[int, int]], msg: Any, sent: bool = False) -> None:
        """``msg`` crosses ``links`` (parent, hosted child) into this process;
        ``sent``: its forwards to other processes have been published."""
        direct = sent or self._direct
        if direct and not sent:
            self._send_boundary(links, msg)
            self.engine.transport.write_now()  # out before the ranks here work
        for parent, rank in links:
            self.at(parent, rank, msg, forward=not direct)

    def at(self, parent: int, rank: int, msg: Any, forward: bool = True) -> None:
        """``rank`` takes ``msg`` from ``parent``, then passes it on: to all its
        children (``forward``) or to those in this process only."""
        eng = self.engine
        if eng._down and rank in eng._down:
            return  # a crashed rank forwards nothing: its subtree misses the event
        if eng.faults.active and eng.faults.crossing(
            parent, rank, msg, lambda: self.at(parent, rank, msg, forward)
        ):
            return
        eng.deliver(rank, msg)
        if forward:
            self.forward(rank, msg)
        else:
            for c in self.overlay.children[rank]:
                if c in eng.ranks:
                    self.at(rank, c, msg, False)

    def forward(self, rank: int, msg: Any) -> None:
        """Hop by hop: in-process children at once (``--local``), the others at
        the end of this loop turn, with the other ranks' forwards of ``msg``."""
        eng = self.engine
        children = self.overlay.children[rank]
        if not eng.local or any(c not in eng.ranks for c in children):
            entry = self._pending.get(id(msg))
            if entry is None:
                if not self._pending:
                    eng.loop.call_soon(self._flush)
                self._pending[id(msg)] = (msg, [rank])
            else:
                entry[1].append(rank)
        if eng.local:
            for c in children:
                if c in eng.ranks:
                    self.at(rank, c, msg)

    # -- to other processes ----------------------------------------------------

    def boundary(self, rank: int) -> tuple[int, ...]:
        """The ranks in other processes that ``rank``'s in-process subtree feeds."""
        out = self._boundary.get(rank)
        if out is None:
            found: list[int] = []
            for c in self.overlay.children[rank]:
                found.extend(self.boundary(c) if c in self.engine.ranks else (c,))
            out = self._boundary[rank] = tuple(found)
        return out

    def _send_boundary(
        self, links: list[tuple[int, int]], msg: Any, skip: tuple[int, ...] = ()
    ) -> None:
        self.publish(msg, [r for _, c in links for r in self.boundary(c) if r not in skip])

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        local, hosted = self.engine.local, self.engine.ranks
        for msg, senders in pending.values():
            kids = [c for s in senders for c in self.overlay.children[s]]
            self.publish(msg, [c for c in kids if not (local and c in hosted)])

    def publish(self, msg: Any, ranks: Iterable[int]) -> None:
        """``msg`` to ``ranks`` (in other processes, or anywhere with
        ``--no-local``): one publish per hosting process."""
        eng = self.engine
        parent_of, children = self.overlay.parent, self.overlay.children
        groups: dict[str, list[int]] = {}
        for r in ranks:
            groups.setdefault(eng._host.get(r, f"?{parent_of[r]}"), []).append(r)
        for kids in groups.values():
            top = min(parent_of[r] for r in kids)
            to = None if sorted(kids) == sorted(children[top]) else tuple(kids)
            eng._publish_event(tp.down_topic(eng.cluster, top), top, msg, to)
