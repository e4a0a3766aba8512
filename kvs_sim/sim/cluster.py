"""A simulated Flux instance: N ranks, one overlay, one engine, one seed.

Theory of operation
-------------------
:class:`Cluster` wires the pieces: an :class:`~kvs_sim.overlay.Overlay`
(k-ary tree by default, or any tree a user supplies), a link latency model, the
virtual-time :class:`~kvs_sim.sim.engine.Engine`, and one rank state machine per
rank (:func:`kvs_sim.rank.make_rank`).  All randomness comes from one
``random.Random(seed)`` owned by the engine, so a cluster is a function of its
arguments: the same arguments give the same trace.

Followers start knowing the primary namespace's initial root (as if they had
fetched it at boot); everything else they learn on demand.

Clients are :class:`~kvs_sim.handle.Handle` objects (``cluster.handle(rank)``);
client code runs as ``async def`` processes spawned on the engine
(``cluster.spawn``) or synchronously through :meth:`Cluster.wait`, which advances
virtual time until a future is done.  With ``record=True`` every client operation
and every root a rank applies goes into a :class:`~kvs_sim.history.Recorder`.
``tracer`` is passed to the engine as is (see :class:`~kvs_sim.sim.engine.Engine`):
it sees every message arrival, e.g. to draw a space-time diagram.

Faults.  ``nemeses`` (a list of ``kvs_sim.nemesis.at(...)`` entries or dicts) are
scheduled from time 0; ``nemesis=("partition", "crash")`` with
``nemesis_interval`` runs a random nemesis process drawn from the seed.  Either
turns on the followers' ``request_retry`` (lost or held requests are asked for
again).  :meth:`Cluster.inject` starts one fault now, :meth:`Cluster.heal_all`
ends them all (a run's end does, so convergence can be judged).  How each is
applied: :mod:`kvs_sim.sim.faults`.

Speed.  With a constant latency and no recorder, tracer or faults, the engine
delivers rank 0's setroots to idle subtrees lazily (:mod:`kvs_sim.sim.lazy`;
``lazy=False`` turns it off, with the same results).  ``version``, ``converged``,
``stats`` and ``rank`` see every rank up to date; code that reads ``ranks[r]``
directly from inside a run calls ``engine.settle()`` first.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import networkx as nx

from kvs_sim.channel import Channel
from kvs_sim.core.content import ContentStore, SQLiteStore
from kvs_sim.core.namespace import PRIMARY
from kvs_sim.handle import Handle
from kvs_sim.history import Recorder
from kvs_sim.nemesis import Nemesis, Schedule, Scheduled, from_spec, random_process
from kvs_sim.overlay import Overlay
from kvs_sim.rank import RankBase, RankConfig, RankHooks, make_rank
from kvs_sim.rank.messages import SetRoot
from kvs_sim.sim.engine import Engine, Tracer
from kvs_sim.sim.faults import Faults
from kvs_sim.sim.latency import Constant, LinkModel, parse_latency
from kvs_sim.sim.process import SimFuture
from kvs_sim.topics import TopicBus, event_topic

log = logging.getLogger("kvs_sim")

LOSSY_RETRY = 0.01
"""Seconds a follower waits for a setroot (or an object) before asking again, when
links lose events and the configuration sets no ``request_retry``."""

DEFAULT_LATENCY = "const:40us"
"""Per-hop latency: with ~15 us of setroot service and ~5 us of routing, one hop of
setroot lag comes to ~0.06 ms (the reference instance: 0.3 ms lag to a depth-1
follower, 0.4 ms at depth 3).  Calibrated with bench/calibration.py: docs/model.md."""
DEFAULT_FORWARD_COST = 12e-6
"""Seconds a rank spends per copy of an event it forwards to a child (a flat tree
makes rank 0 send many: 8 writers reach ~4,700/s there, ~5,700/s on a binary
tree).  Calibrated with bench/calibration.py: docs/model.md."""


class Cluster:
    """A simulated KVS instance.  See the module docstring."""

    def __init__(
        self,
        size: int = 8,
        fanout: int = 2,
        *,
        seed: int = 0,
        overlay: nx.Graph | None = None,
        latency: str | Any = DEFAULT_LATENCY,
        link_latency: dict[tuple[int, int], str | Any] | None = None,
        loss: float = 0.0,
        events: str = "tree",
        broker_cost: float = 2e-6,
        forward_cost: float = DEFAULT_FORWARD_COST,
        config: RankConfig | None = None,
        store: ContentStore | str | None = None,
        record: bool | Recorder = False,
        claims: tuple[str, ...] = (),
        tracer: Tracer | None = None,
        name: str = "sim",
        nemeses: Any = (),
        nemesis: tuple[str, ...] | None = None,
        nemesis_interval: float = 0.5,
        nemesis_mode: str = "hold",
        faults: bool = False,
        lazy: bool = True,
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if overlay is not None:
            self.overlay = Overlay.from_graph(overlay)
        else:
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"size must be an integer >= 1, got {size!r}")
            if not isinstance(fanout, int) or fanout < 1:
                raise ValueError(f"fanout must be an integer >= 1, got {fanout!r}")
            self.overlay = Overlay.kary(size, fanout)
        self.size = self.overlay.size
        self.fanout = fanout
        self.seed = seed
        self.config = config or RankConfig()
        schedule = Schedule.of(from_spec(e) for e in nemeses or ())
        schedule.check(self.size, self.overlay.parent)
        self.nemesis_kinds = tuple(nemesis or ())
        faulty = faults or bool(schedule) or bool(self.nemesis_kinds)
        if (loss > 0 or faulty) and self.config.request_retry is None:
            # Lost setroots would leave relayed commits unanswered for ever (as a
            # lost event would in Flux); let followers ask the leader instead.
            self.config = dataclasses.replace(self.config, request_retry=LOSSY_RETRY)
        links = LinkModel(
            _latency(latency),
            {link: _latency(spec) for link, spec in (link_latency or {}).items()} or None,
            loss=loss,
        )
        self.engine = Engine(
            self.overlay,
            links=links,
            rng=random.Random(seed),
            events=events,
            broker_cost=broker_cost,
            forward_cost=forward_cost,
            tracer=tracer,
            lazy=lazy,
        )
        if isinstance(record, Recorder):
            self.recorder: Recorder | None = record
        elif record:
            self.recorder = Recorder(seed=seed, config=self.describe(), claims=claims)
        else:
            self.recorder = None
        hooks = RankHooks(self._root_applied if self.recorder is not None else None)
        backing = SQLiteStore(store, self.config.hash_name) if isinstance(store, str) else store
        self._backing = backing
        leader = make_rank(0, -1, self.engine, self.config, store=backing, hooks=hooks)
        root = leader.roots[PRIMARY]
        primary = (root.seq, root.rootref, root.owner, root.epoch)
        self.ranks: list[RankBase] = [leader]
        parent = self.overlay.parent
        for r in range(1, self.size):
            self.ranks.append(
                make_rank(r, parent[r], self.engine, self.config, hooks=hooks, primary=primary)
            )
        if self.recorder is not None:
            for r in range(self.size):
                self.recorder.root(rank=r, ns=PRIMARY, version=root.seq, time=0.0)
        self.name = name
        self.bus = TopicBus()
        """Every event the leader publishes, on its MQTT topic (``event_topic``), for
        observers: ``cluster.bus.subscribe("kvs-sim/+/event/#", callback)``."""
        self.engine.on_publish = self._published
        self.engine.attach(self.ranks)
        self.engine.start()
        # A failing test shows captured logs: this line is how to replay its run.
        log.info(
            "cluster size=%d fanout=%d seed=%d events=%s latency=%s",
            self.size,
            fanout,
            seed,
            events,
            latency,
        )
        self._handles = itertools.count()
        self._channels = itertools.count()
        self._faults: Faults | None = None
        if schedule:
            self.faults.schedule(schedule)
        if self.nemesis_kinds:
            self.faults.random(
                random_process(
                    seed,
                    self.nemesis_kinds,
                    nemesis_interval,
                    self.overlay.parent,
                    mode=nemesis_mode,
                )
            )

    # -- description ---------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The configuration as plain data (goes into history headers)."""
        out: dict[str, Any] = {
            "size": self.size,
            "fanout": self.fanout,
            "seed": self.seed,
            "depth": list(self.overlay.depth),
            "commit_response": self.config.commit_response,
        }
        if self.config.checkpoint_period is not None:
            out["checkpoint_period"] = self.config.checkpoint_period
        if self.nemesis_kinds:
            out["nemesis"] = list(self.nemesis_kinds)
        return out

    def _published(self, time: float, rank: int, msg: Any) -> None:
        kind = "setroot" if isinstance(msg, SetRoot) else "removed"
        self.bus.publish(event_topic(self.name, msg.ns, kind), msg)

    def _root_applied(self, rank: int, ns: str, seq: int, rootref: str, time: float) -> None:
        assert self.recorder is not None
        st = self.ranks[rank].roots.get(ns) if rank < len(self.ranks) else None
        epoch = st.epoch if st is not None else 0
        self.recorder.root(rank=rank, ns=ns, version=seq, time=time, epoch=epoch)

    # -- faults -------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The cluster's nemeses (created on first use; see :mod:`kvs_sim.sim.faults`)."""
        if self._faults is None:
            self._faults = Faults(self)
        return self._faults

    def inject(self, nemesis: Nemesis, duration: float | None = None) -> None:
        """Start ``nemesis`` now, for ``duration`` seconds (None: until :meth:`heal_all`).

        A partition in ``drop`` mode, or event loss, needs the followers' request
        retry: build the cluster with ``faults=True`` (or ``nemeses``) for it."""
        self.faults.start(Scheduled(0.0, nemesis, duration))

    def heal_all(self) -> None:
        """Heal every active fault, restart crashed ranks, stop the nemesis process."""
        if self._faults is not None:
            self._faults.heal_all()

    def close(self) -> None:
        """Shut the leader down cleanly (it checkpoints what is not checkpointed, as
        Flux does at unload), then flush and close its backing store (a SQLite file
        survives)."""
        leader = self.ranks[0]
        if self._faults is None or 0 not in self._faults.crashed:
            leader.shutdown()  # type: ignore[attr-defined]
        if self._backing is not None:
            self._backing.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time ------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Virtual time in seconds."""
        return self.engine.now()

    def run(self, until: float | None = None, *, duration: float | None = None) -> None:
        """Advance virtual time to ``until`` (or by ``duration``); None = until idle."""
        if duration is not None:
            until = self.now + duration
        self.engine.run(until)

    def wait(self, fut: Any, timeout: float | None = None) -> Any:
        """Advance time until ``fut`` is done; return its result (or raise)."""
        return self.engine.run_until_complete(fut, timeout=timeout)

    # -- clients -----------------------------------------------------------------

    def handle(
        self, rank: int = 0, *, userid: int | None = None, name: str | None = None
    ) -> Handle:
        """A client handle on ``rank`` (acting as ``userid``, default the instance owner)."""
        if not isinstance(rank, int) or not 0 <= rank < self.size:
            raise ValueError(f"rank must be in 0..{self.size - 1}, got {rank!r}")
        uid = self.config.instance_owner if userid is None else userid
        return Handle(
            self.engine,
            rank,
            userid=uid,
            name=name or f"p{next(self._handles)}@{rank}",
            recorder=self.recorder,
        )

    def spawn(self, coro: Coroutine[Any, Any, Any] | Callable[[], Awaitable[Any]]) -> SimFuture:
        """Run an ``async def`` process on the engine; returns a future of its result."""
        started = coro() if callable(coro) else coro
        return self.engine.spawn(started)  # type: ignore[arg-type]

    def sleep(self, delay: float) -> SimFuture:
        return self.engine.sleep(delay)

    def channel(self, latency: float = 0.0) -> Channel:
        """A recorded hand-off between processes (see :mod:`kvs_sim.channel`)."""
        return Channel(self, latency)

    def next_channel_name(self) -> str:
        return f"ch{next(self._channels)}"

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any:
        """Run client code ``fn(*args)`` after ``delay`` virtual seconds."""
        return self.engine.call_later(delay, fn, *args)

    def future(self) -> SimFuture:
        return self.engine.future()

    # -- observation ------------------------------------------------------------

    def rank(self, r: int) -> RankBase:
        """Rank ``r``'s state, brought up to now (read ``ranks[r]`` directly only
        outside a run, or after ``engine.settle()``)."""
        self.engine.settle()
        return self.ranks[r]

    def version(self, rank: int = 0, ns: str = PRIMARY) -> int:
        """The root version rank ``rank`` currently serves (-1 if unknown there)."""
        self.engine.settle()
        st = self.ranks[rank].roots.get(ns)
        return -1 if st is None else st.seq

    def converged(self, ns: str = PRIMARY) -> bool:
        """True if every rank serves the leader's current version of ``ns``."""
        target = self.version(0, ns)
        return all(self.version(r, ns) == target for r in range(self.size))

    def stats(self, rank: int) -> dict[str, Any]:
        self.engine.settle()
        return self.ranks[rank].stats()  # type: ignore[attr-defined]


def _latency(spec: str | Any) -> Any:
    if isinstance(spec, str):
        return parse_latency(spec)
    if isinstance(spec, int | float):
        return Constant(float(spec))
    return spec
