"""A running live cluster as scenarios see it: the simulator's API in real time.

Theory of operation
-------------------
Scenario files drive a cluster through a small API: ``handle(rank, name=)``,
``size``, ``overlay``, ``now``, ``sleep``, ``spawn``, ``channel``, ``recorder`` and
``version(rank)``.  :class:`LiveCluster` offers the same over MQTT, inside a
running asyncio loop, so ``kvs-sim run SCENARIO --live`` runs an unchanged
scenario on real ranks:

* handles are :class:`~kvs_sim.handle.Handle` objects on a
  :class:`~kvs_sim.live.client.LiveBackend` whose clock starts at zero with the
  cluster, so histories read like simulated ones (seconds since the start);
* ``sleep`` and ``spawn`` are asyncio's; ``channel`` is the shared
  :class:`~kvs_sim.channel.Channel`;
* root records come from the ranks themselves: started with ``--report-roots``,
  every rank publishes each root it applies, with the time on the machine's
  monotonic clock (shared by every process on one host), on
  ``kvs-sim/<cluster>/applied``.  They make the propagation metrics, convergence
  checks and ``version(rank)`` as exact as the clock, without polling.  Without
  them (ranks started elsewhere), ``version`` knows only what replies told it;
* ``inject(nemesis, duration)`` and ``heal_all()`` mean what they mean on the
  simulated :class:`~kvs_sim.sim.cluster.Cluster`: the fault starts now, on the
  real processes, through the run's :class:`~kvs_sim.live.schedule.LiveNemeses`
  (so it is recorded in the history and healed at the end like a scheduled
  one).  It takes effect when the rank processes receive it, one broker hop
  later; requests the scenario's handles make afterwards are held
  (:meth:`LiveCluster.fence`) until every rank process says it applies it, so
  none of them, nor anything it causes (a setroot), gets ahead of the fault.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from kvs_sim.channel import Channel
from kvs_sim.core.namespace import PRIMARY
from kvs_sim.handle import Handle
from kvs_sim.history import Recorder
from kvs_sim.live import topics as tp
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.transport import Incoming, Transport
from kvs_sim.overlay import Overlay
from kvs_sim.rank import messages as m

log = logging.getLogger("kvs_sim.live")

CRASHED = "the rank crashed: this request may or may not take effect"
"""What a request to a crashed rank is answered (with ECONNRESET)."""


class _ClockedBackend(LiveBackend):
    """A LiveBackend whose ``now()`` counts from the cluster's start, and which
    counts replies (for progress bars)."""

    def __init__(self, client: LiveClient, t0: float, on_reply: Callable[[], None]) -> None:
        super().__init__(client)
        self.t0 = t0
        self._counted = on_reply
        self.pending: dict[int, int] = {}  # request id -> rank
        self._fences: set[asyncio.Future[Any]] = set()
        self._held: list[tuple[int, int, Callable[[int], Any]]] = []  # (id, rank, build)
        self.down: set[int] = set()
        """Ranks whose process is down: requests to them fail at once (ECONNRESET)."""

    def fence(self, until: asyncio.Future[Any]) -> None:
        """Hold every request made from now on until ``until`` is done (then send
        them in order)."""
        self._fences.add(until)
        until.add_done_callback(self._lift)

    def _lift(self, done: asyncio.Future[Any]) -> None:
        self._fences.discard(done)
        if not self._fences:
            held, self._held = self._held, []
            for ident, rank, build in held:
                self.client._publish(ident, build, rank)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def request(
        self, rank: int, build: Callable[[int], Any], on_reply: Callable[[Any], None]
    ) -> int:
        ident = -1

        def counted(reply: Any) -> None:
            if reply.final:
                self.pending.pop(ident, None)
            self._counted()
            on_reply(reply)

        if rank in self.down:
            # Its process is dead: nothing would answer (a restarted process does
            # not get what was sent to the dead one), so fail now, as Flux does.
            ident = next(self.client._ids)
            reply = m.Reply(client=ident, errnum=errno.ECONNRESET, errmsg=CRASHED)
            self.loop.call_soon(counted, reply)
        elif self._fences:
            ident = next(self.client._ids)
            self.client._waiters[ident] = counted
            self._held.append((ident, rank, build))
        else:
            ident = super().request(rank, build, counted)
        self.pending[ident] = rank
        return ident

    def fail_pending(self, ranks: Iterable[int], errnum: int, errmsg: str) -> int:
        """Answer every request waiting on one of ``ranks`` with an error (their
        process crashed: the connection is gone, as a Flux client sees it)."""
        dead = set(ranks)
        self._held = [h for h in self._held if h[1] not in dead]  # never sent
        gone = [i for i, r in self.pending.items() if r in dead]
        for ident in gone:
            waiter = self.client._waiters.pop(ident, None)  # as LiveBackend registers it
            if callable(waiter):
                waiter(m.Reply(client=ident, errnum=errnum, errmsg=errmsg))
        return len(gone)


class LiveCluster:
    """``async with LiveCluster(url, cluster, size, fanout) as c: ...``"""

    def __init__(
        self,
        url: str,
        cluster: str,
        size: int,
        fanout: int,
        *,
        recorder: Recorder | None = None,
        timeout: float = 10.0,
        on_reply: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.name = cluster
        self.size = size
        self.fanout = fanout
        self.overlay = Overlay.kary(size, fanout)
        self.recorder = recorder
        self._on_reply = on_reply
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = LiveClient(url, cluster=cluster, timeout=timeout)
        self._versions: dict[tuple[int, str], tuple[int, int]] = {}  # (epoch, seq)
        self._handles = itertools.count()
        self._channels = itertools.count()
        self._t0 = 0.0
        self._backend: _ClockedBackend | None = None
        self.nemeses: Any = None
        """The run's :class:`~kvs_sim.live.schedule.LiveNemeses` (``inject`` needs one)."""
        self._healing: set[asyncio.Task[None]] = set()
        self._applied = Transport(
            self._client.url,  # the client's login: the owner may read reports
            ca_file=self._client.transport.ca_file,
            client_id=f"kvs-sim-observer-{cluster}-{id(self):x}",
            subscriptions=[tp.applied_topic(cluster)],
            on_message=self._on_applied,
            persistent=False,
            qos=0,
        )

    async def __aenter__(self) -> LiveCluster:
        self._loop = asyncio.get_running_loop()
        self._t0 = time.monotonic()  # before any report can arrive: earlier ones are dropped
        for r in range(self.size):  # every rank of a fresh cluster starts at version 0
            self._root(r, PRIMARY, 0, 0.0)
        await self._client.__aenter__()
        await self._applied.start()
        self._backend = _ClockedBackend(self._client, self._t0, self._count_reply)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._applied.close()
        await self._client.__aexit__(None, None, None)

    @property
    def client(self) -> LiveClient:
        return self._client

    def crashed(self, ranks: Iterable[int], *, process: bool = False) -> int:
        """``ranks`` crashed: their waiting clients get ECONNRESET (may or may not
        have happened); returns how many.  ``process``: their process is dead, so
        requests to them fail the same way until :meth:`restarted`."""
        assert self._backend is not None
        ranks = list(ranks)
        if process:
            self._backend.down.update(ranks)
        return self._backend.fail_pending(ranks, errno.ECONNRESET, CRASHED)

    def restarted(self, ranks: Iterable[int]) -> None:
        """The process of crashed ``ranks`` is up again: requests go to it."""
        assert self._backend is not None
        self._backend.down.difference_update(ranks)

    def fence(self, until: Any) -> None:
        """Hold the requests handles make from now on until the awaitable ``until``
        is done (a nemesis applied by every rank process, see
        :meth:`~kvs_sim.live.nemesis.Control.applied`)."""
        assert self._backend is not None
        self._backend.fence(asyncio.ensure_future(until))

    def inject(self, nemesis: Any, duration: float | None = None) -> None:
        """Start ``nemesis`` now, for ``duration`` seconds (None: until :meth:`heal_all`
        or the end of the run), as ``Cluster.inject`` does in a simulation."""
        from kvs_sim.nemesis import Scheduled

        if self.nemeses is None:
            raise RuntimeError(
                "inject needs a nemesis controller: run the scenario with kvs-sim run --live"
            )
        self.nemeses.start(Scheduled(self.now, nemesis, duration))

    def heal_all(self) -> asyncio.Task[None]:
        """Heal every active fault (crashed ranks restart); await the result to wait
        until they are back."""
        if self.nemeses is None:
            raise RuntimeError("heal_all needs a nemesis controller (kvs-sim run --live)")
        task = asyncio.ensure_future(self.nemeses.heal_all())
        self._healing.add(task)
        task.add_done_callback(self._healing.discard)
        return task

    def _count_reply(self) -> None:
        if self._on_reply is not None:
            self._on_reply()

    # -- the scenario API ---------------------------------------------------------

    @property
    def now(self) -> float:
        """Seconds since the cluster was attached (readable from any thread)."""
        return time.monotonic() - self._t0 if self._loop is not None else 0.0

    def handle(
        self, rank: int = 0, *, userid: int | None = None, name: str | None = None
    ) -> Handle:
        if not isinstance(rank, int) or not 0 <= rank < self.size:
            raise ValueError(f"rank must be in 0..{self.size - 1}, got {rank!r}")
        assert self._backend is not None, "use LiveCluster inside 'async with'"
        return Handle(
            self._backend,
            rank,
            userid=0 if userid is None else userid,
            name=name or f"p{next(self._handles)}@{rank}",
            recorder=self.recorder,
        )

    def sleep(self, delay: float) -> Coroutine[Any, Any, None]:
        return asyncio.sleep(delay)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        return asyncio.ensure_future(coro)

    def channel(self, latency: float = 0.0) -> Channel:
        return Channel(self, latency)

    def next_channel_name(self) -> str:
        return f"ch{next(self._channels)}"

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any:
        return asyncio.get_running_loop().call_later(delay, fn, *args)

    def future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def version(self, rank: int = 0, ns: str = PRIMARY) -> int:
        """The newest root version ``rank`` reported applying (-1 if none)."""
        return self._versions.get((rank, ns), (-1, -1))[1]

    def converged(self, ns: str = PRIMARY) -> bool:
        target = self._versions.get((0, ns))
        return all(self._versions.get((r, ns)) == target for r in range(self.size))

    async def settle(self, timeout: float, ns: str = PRIMARY) -> bool:
        """Wait until every rank reported the leader's newest version (or timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.converged(ns) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return self.converged(ns)

    async def stats(self, rank: int) -> dict[str, Any]:
        reply = await self._client.request(lambda c: m.StatsReq(client=c), rank=rank)
        return reply.value if isinstance(reply.value, dict) else {}

    # -- root reports ---------------------------------------------------------------

    def _on_applied(self, inc: Incoming) -> None:
        try:
            report = json.loads(inc.payload)
            rank, ns, seq, t = (
                int(report["rank"]),
                str(report["ns"]),
                int(report["seq"]),
                report["t"],
            )
            epoch = int(report.get("epoch", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("dropped a malformed root report on %s", inc.topic)
            return
        if self._loop is not None and 0 <= rank < self.size and t >= self._t0:
            self._root(rank, ns, seq, float(t) - self._t0, epoch)

    def _root(self, rank: int, ns: str, seq: int, time: float, epoch: int = 0) -> None:
        """A rank applied root ``seq`` of leader ``epoch`` (a newer epoch wins over
        any sequence of an older one: versions restart after a leader crash)."""
        if (epoch, seq) > self._versions.get((rank, ns), (-1, -1)):
            self._versions[(rank, ns)] = (epoch, seq)
        if self.recorder is not None:
            self.recorder.root(rank=rank, ns=ns, version=seq, time=time, epoch=epoch)

    def leader_resumed(self, epoch: int, seq: int, time: float | None = None) -> None:
        """The restarted leader resumed at ``seq`` in ``epoch`` at ``time`` (default
        now; it reports no root for the one it resumes from, so this is recorded
        once its checkpoint lookup answers, dated when the restart began, before
        any root it made since)."""
        self._root(0, PRIMARY, seq, self.now if time is None else time, epoch)
