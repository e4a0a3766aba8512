"""The live engine: kvs-sim ranks over a real MQTT broker, in real time.

Theory of operation
-------------------
A :class:`LiveEngine` hosts a subset of a cluster's ranks in one asyncio process
and implements :class:`~kvs_sim.rank.port.Port` for each of them (through a
:class:`~kvs_sim.live.incarnation.RankPort` per incarnation).  It makes no
protocol decision: it moves the messages ranks produce, exactly as the
virtual-time engine does, so rank logic is shared line for line.  Its parts:

* this module: hosting -- building the ranks, start-up, the process's retained
  status, the nemesis state and overlay notices wired to the ranks, root
  reports, and sorting every incoming publish by topic (:meth:`LiveEngine._on_message`);
* :mod:`kvs_sim.live.pump` -- routing hop by hop, tree and broker events, the
  fault filter on every link and delivery, one message at a time per rank;
  :mod:`kvs_sim.live.tree_events` -- tree events, one publish per event and
  destination process;
* :mod:`kvs_sim.live.sessions` -- external clients: requests in, replies out;
* :mod:`kvs_sim.live.faults`, :mod:`kvs_sim.live.incarnation`,
  :mod:`kvs_sim.live.notices` -- nemeses, crashes inside the process, and what
  a rank is told when a peer on its path goes.

Start-up.  A rank's first act, ``start()``, sends a root request towards rank 0;
a topic nobody has subscribed to yet silently drops it.  So each engine publishes
a retained status under ``kvs-sim/<c>/status/<client-id>`` once subscribed (a will
replaces it by ``down`` if the process dies) and starts its ranks only when every
ancestor of theirs has a status, i.e. has a session that queues its messages.
The status also names the nemesis state the process applies (republished at
every change), which is how a controller knows a fault is in effect.
With ``local=True`` a message whose next hop is hosted in the same process skips
the broker (faster; off by default so every hop is a real MQTT message).
``qos=0`` trades the delivery guarantee for half the packets (no PUBACKs); it
exists to measure what QoS 1 costs, not for use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kvs_sim.live import credentials as cr
from kvs_sim.live import topics as tp
from kvs_sim.live.faults import FaultFilter, nemesis_topic
from kvs_sim.live.incarnation import Incarnations
from kvs_sim.live.notices import Notices
from kvs_sim.live.ranks import format_ranks
from kvs_sim.live.sessions import CLIENT_REQUESTS, ClientSessions
from kvs_sim.live.transport import Incoming, Transport, Will
from kvs_sim.live.tree_events import TreeEvents
from kvs_sim.overlay import Overlay
from kvs_sim.rank.base import RankHooks
from kvs_sim.rank.config import RankConfig
from kvs_sim.rank.messages import EVENT_TYPES, MESSAGE_TYPES, Reply, Timer

LIVE_REQUEST_RETRY = 2.0
"""Seconds before a live follower asks again for an object or root still awaited."""

log = logging.getLogger("kvs_sim.live")

EVENT_MODES = ("tree", "broker")

RANK_MESSAGES = tuple(
    cls
    for cls in MESSAGE_TYPES.values()
    if cls not in CLIENT_REQUESTS and cls not in EVENT_TYPES and cls not in (Reply, Timer)
)
"""What may arrive on a rank topic: rank-to-rank messages (never a client
request, an event, a reply, or a timer, which only the engine itself makes)."""

RankFactory = Callable[..., Any]
"""``make_rank(rank, parent, port, config)`` -> an object with ``start``/``handle``."""


def _default_factory() -> RankFactory:
    from kvs_sim.rank import make_rank

    return make_rank


class LiveEngine(ClientSessions):
    """Host ``ranks`` of a ``size``-rank cluster on the broker at ``url``."""

    def __init__(
        self,
        url: str | tp.BrokerURL,
        *,
        size: int,
        ranks: Sequence[int],
        cluster: str | None = None,
        overlay: Overlay | None = None,
        fanout: int = 2,
        config: RankConfig | None = None,
        events: str = "tree",
        make_rank: RankFactory | None = None,
        ca_file: str | None = None,
        local: bool = False,
        connect_timeout: float = 5.0,
        ready_timeout: float = 30.0,
        qos: int = 1,
        store: Any = None,
        report_roots: bool = False,
        credentials: str | Path | None = None,
    ) -> None:
        url = url if isinstance(url, tp.BrokerURL) else tp.parse_url(url)
        self.cluster = tp.check_cluster(cluster or url.cluster or tp.DEFAULT_CLUSTER)
        self.url, found_ca = cr.login(url, self.cluster, cr.RANKS, credentials)
        self.secure = self.url.username is not None
        """Logged in: requests carry the caller's identity in their topic."""
        if not self.secure:
            log.warning(
                "no credentials for %s: the broker cannot tell ranks from clients, and "
                "request identities are not checked",
                self.url,
            )
        self.overlay = overlay or Overlay.kary(size, fanout)
        if self.overlay.size != size:
            raise ValueError(f"overlay has {self.overlay.size} ranks, size is {size}")
        if events not in EVENT_MODES:
            raise ValueError(f"events must be one of {', '.join(EVENT_MODES)}, got {events!r}")
        if not ranks or any(not 0 <= r < size for r in ranks):
            raise ValueError(f"ranks must be a non-empty subset of 0-{size - 1}, got {ranks!r}")
        self.size = size
        self.hosted = sorted(set(ranks))
        self.events = events
        self.config = config or RankConfig(request_retry=LIVE_REQUEST_RETRY)
        self.local = local
        self.ready_timeout = ready_timeout
        self.client_id = f"kvs-sim-{self.cluster}-ranks-{format_ranks(self.hosted)}"
        self.ranks: dict[int, Any] = {}
        self.stats = {
            k: 0 for k in ("received", "delivered", "sent", "forwarded", "dropped", "crashes")
        }
        self.ready = asyncio.Event()
        self._factory = make_rank
        self._applied_topic = tp.applied_topic(self.cluster) if report_roots else None
        self.store = store
        """The leader's backing content store (None: the rank's default, in memory)."""
        self._init_pump()
        self._init_sessions()
        self._rank_head = tp.rank_topic(self.cluster, 0)[:-1]
        self._event_head = tp.event_filter(self.cluster)[:-1]
        self._status_head = tp.status_filter(self.cluster)[:-1]
        self._held: list[tuple[int, Any]] | None = []
        self._known: set[int] = set()
        self._host: dict[int, str] = {}
        """Which process (status topic tail) hosts each rank, from the statuses."""
        self._known_changed = asyncio.Event()
        self._stopped = False
        self._started = time.time()  # the status's "started": the newest process wins
        status = tp.status_topic(self.cluster, self.client_id)
        subs = [tp.rank_topic(self.cluster, r) for r in self.hosted]
        subs += [tp.req_filter(self.cluster, r) for r in self.hosted]
        subs.append(tp.status_filter(self.cluster))
        # Nemeses (kvs_sim.live.faults): the retained set of active faults.
        self.faults = FaultFilter(self.overlay)
        self.faults.on_change = self._faults_changed
        # Crashes inside this process, and overlay notices (kvs_sim.live.incarnation,
        # kvs_sim.live.notices).
        self.incarnations = Incarnations(self, self._build)
        self.faults.service = self.incarnations.worked  # a slow rank's modelled time
        self._down = self.incarnations.down
        self._gen = self.incarnations.gen
        self.notices = Notices(
            self.overlay,
            self.hosted,
            status,
            self._tell,
            later=lambda delay, fn: self.loop.call_later(delay, fn),  # noqa: PLW0108 (the loop is the running one, known later)
        )
        self._nemesis_topic = nemesis_topic(self.cluster)
        subs.append(self._nemesis_topic)
        self._parents: set[int] = set()
        self.reads_events = False
        if events == "broker":
            subs.append(tp.event_filter(self.cluster))
        else:
            # Tree events: each hosted rank listens to its parent's one publish.
            parents = {self.overlay.parent[r] for r in self.hosted if r != 0}
            if local:
                parents -= set(self.hosted)  # handed over in-process instead
            self._parents = parents
            for p in sorted(parents):
                subs.append(
                    tp.event_filter(self.cluster) if p == 0 else tp.down_topic(self.cluster, p)
                )
        self._down_head = tp.down_topic(self.cluster, 0)[:-1]
        self.transport = Transport(
            self.url,
            client_id=self.client_id,
            subscriptions=subs,
            on_message=self._on_message,
            ca_file=ca_file or found_ca,
            will=Will(status, self._status_payload("down")),
            connect_timeout=connect_timeout,
            qos=qos,
            on_connect=self._announce,
        )
        self._status_topic = status
        self.tree = TreeEvents(self)

    # -- lifecycle -----------------------------------------------------------

    def _status_payload(self, state: str) -> bytes:
        doc = {
            "ranks": self.hosted,
            "state": state,
            "pid": os.getpid(),
            "started": self._started,
            "nemesis": self.faults.state,  # the nemesis state applied (Control.applied)
            "events": self.reads_events,  # reads the leader's event topic (TreeEvents)
        }
        return json.dumps(doc).encode()

    async def start(self) -> None:
        """Connect, build the hosted ranks, wait for their ancestors, start them."""
        for r in self.hosted:
            extra: dict[str, Any] = {}
            if r == 0 and self.store is not None:
                extra["store"] = self.store
            self.ranks[r] = self._build(r, self.incarnations.port(r), **extra)
        await self.transport.start()
        await self._wait_for_ancestors()
        await self.tree.follow_leader()
        for r in self.hosted:
            try:
                self.ranks[r].start()
            except Exception:
                log.exception("rank %d: start() failed", r)
        held, self._held = self._held or [], None
        for r, msg in held:
            self.deliver(r, msg)
        self.notices.live = True
        self._faults_changed()  # crashes and losses already in effect
        self.ready.set()

    def _build(self, rank: int, port: Any, **extra: Any) -> Any:
        """A new rank object for hosted ``rank`` on ``port``."""
        factory = self._factory or _default_factory()
        if self._applied_topic is not None:

            def applied(r: int, ns: str, seq: int, rootref: str, t: float) -> None:
                if not port.dead:  # a crashed incarnation reports nothing
                    self._report_root(r, ns, seq, rootref, t)

            extra["hooks"] = RankHooks(root_applied=applied)
        built = factory(rank, self.overlay.parent[rank], port, self.config, **extra)
        if rank == 0 and self._applied_topic is not None and getattr(built, "epoch", 0) > 0:
            # A restarted leader reports the root it resumes from (it applies none).
            st = built.roots.get("primary")
            if st is not None:
                self._report_root(0, "primary", st.seq, st.rootref, time.monotonic(), obj=built)
        return built

    def _faults_changed(self) -> None:
        """The nemesis state changed: crashes of hosted ranks, then notices."""
        if self._held is None and not self._stopped:
            self.incarnations.apply(self.faults.crashed)
        self.notices.faults(self.faults.crashed, self.faults.dropping)

    def _tell(self, rank: int, notice: Any) -> None:
        """An overlay notice, handed to ``rank`` at once (not queued)."""
        if self._stopped or rank not in self.ranks or rank in self._down:
            return
        try:
            self.ranks[rank].handle(notice)
        except Exception:
            log.exception("rank %d failed handling %s", rank, type(notice).__name__)

    @property
    def crashed(self) -> set[int]:
        """Hosted ranks crashed inside this process (see :mod:`kvs_sim.live.incarnation`)."""
        return self._down

    def _announce(self) -> None:
        """After every (re)connection and nemesis update: the retained status says
        this process is up (a replaced broker has lost it; processes starting later
        wait for it) and which nemesis state it applies."""
        if not self._stopped:
            self.transport.publish(
                self._status_topic, self._status_payload("up"), qos=1, retain=True
            )

    async def _wait_for_ancestors(self) -> None:
        needed = {a for r in self.hosted for a in self.overlay.ancestors(r)} - set(self.hosted)
        deadline = self.loop.time() + self.ready_timeout
        while not needed <= self._known:
            left = deadline - self.loop.time()
            if left <= 0:
                missing = format_ranks(sorted(needed - self._known))
                log.warning(
                    "ranks %s are not up after %g s; starting anyway", missing, self.ready_timeout
                )
                return
            self._known_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._known_changed.wait(), left)

    async def stop(self) -> None:
        """Stop delivering, mark this process down, flush and disconnect."""
        self._stopped = True
        self.transport.publish(self._status_topic, self._status_payload("down"), qos=1, retain=True)
        await self.transport.close()
        if self.store is not None and hasattr(self.store, "close"):
            self.store.close()

    async def __aenter__(self) -> LiveEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- inbound: sorting publishes by topic --------------------------------

    def _on_message(self, inc: Incoming) -> None:
        """Sort an incoming publish by topic; anything out of place is dropped
        (and logged): a client request only on a request topic, a rank message
        only on a rank topic, an event only on the leader's event topics or on
        the ``down`` topic of a parent of a hosted rank."""
        topic = inc.topic
        if topic.startswith(self._rank_head):
            tail = topic[len(self._rank_head) :]
            env = self._decode(inc) if tail.isdigit() else None
            if env is None:
                return None
            if inc.response_topic is not None or not isinstance(env.msg, RANK_MESSAGES):
                return self._drop(topic, f"{type(env.msg).__name__} is not a rank message")
            return self.route(int(tail), env)
        if topic.startswith(self._req_head):
            return self._client_request(inc)
        if topic.startswith(self._event_head):
            env = self._decode(inc)
            if env is None:
                return None
            if not isinstance(env.msg, EVENT_TYPES) or env.src != 0:
                return self._drop(topic, f"{type(env.msg).__name__} from {env.src} is no event")
            if self.events == "broker":
                for r in self.hosted:
                    if r != env.src:
                        self._broker_event(env.src, r, env.msg)
                return None
            return self.tree.on_event_topic(env)
        if topic.startswith(self._down_head):
            tail = topic[len(self._down_head) :]
            env = self._decode(inc)
            if env is None:
                return None
            if (
                not tail.isdigit()
                or int(tail) not in self._parents
                or env.src != int(tail)
                or not isinstance(env.msg, EVENT_TYPES)
            ):
                return self._drop(topic, f"{type(env.msg).__name__} from {env.src} out of place")
            return self.tree.on_down(env, topic)
        if topic.startswith(self._status_head):
            return self._status(inc)
        if topic == self._nemesis_topic:
            self.faults.update_payload(inc.payload)
            return self._announce()  # the status says which state is in effect
        return self._drop(topic, "unexpected topic")

    def _status(self, inc: Incoming) -> None:
        self.notices.status(inc.topic, inc.payload)
        try:
            doc = json.loads(inc.payload)
            ranks = [int(r) for r in doc["ranks"]]
        except (ValueError, KeyError, TypeError):
            return self._drop(inc.topic, "bad status payload")
        self._known.update(ranks)
        host = inc.topic[len(self._status_head) :]
        self.tree.status(host, doc)
        for r in ranks:
            self._host[r] = host  # for TreeEvents: one forward per hosting process
        self._known_changed.set()
        return None

    # -- reports -------------------------------------------------------------

    def _report_root(
        self, rank: int, ns: str, seq: int, rootref: str, time: float, *, obj: Any = None
    ) -> None:
        """``--report-roots``: tell observers when a hosted rank applied a root (the
        time is the monotonic clock every process on this machine shares; ``epoch``
        the leader epoch of the root, as versions restart after a leader crash)."""
        assert self._applied_topic is not None
        if obj is None:
            obj = self.ranks.get(rank)
        st = obj.roots.get(ns) if obj is not None else None
        epoch = getattr(st, "epoch", 0)
        payload = json.dumps({"rank": rank, "ns": ns, "seq": seq, "t": time, "epoch": epoch})
        self.transport.publish(self._applied_topic, payload.encode())
