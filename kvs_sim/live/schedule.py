"""Running a nemesis schedule on live ranks (``kvs-sim run --live`` with nemeses).

Theory of operation
-------------------
:class:`LiveNemeses` takes the same :mod:`kvs_sim.nemesis` schedule a simulation
takes (entries ``at`` t ``for`` d, possibly an endless random process) and
inflicts each entry on the running cluster at its time on the run's clock:

* ``crash`` of a rank alone in its process SIGKILLs the ``kvs-sim up`` process
  and starts the same command again ``d`` later (never, without a duration:
  then at the end of the run, so convergence can be judged); :func:`isolate`
  gives each rank a schedule crashes a process of its own beforehand.  A rank
  that shares its process (one a scenario crashes from its own code with
  ``cluster.inject``) crashes inside it instead: a ``crash`` fault on the
  nemesis topic, which the hosting engine applies to that rank alone and heals
  by rebuilding it (:mod:`kvs_sim.live.incarnation`);
* every other nemesis is published through a :class:`~kvs_sim.live.nemesis.Control`
  and applied by the rank processes (:mod:`kvs_sim.live.faults`), then healed.
  Requests the scenario makes after a fault starts wait until every rank
  process applies it (``LiveCluster.fence``), so a partition holds from the
  scenario's first request after ``inject``.

Each entry is recorded as one nemesis interval in the history (``Recorder.nemesis``
when inflicted, ``heal`` when healed; times are the controller's, a millisecond or
so before the rank processes act).  A leader crash's record is amended, once the
restarted leader answers, with what it resumed from and what was lost:
``checkpoint`` and ``epoch`` from its checkpoint, ``lost_versions`` the versions
rank 0 had reported in the epoch that crashed after that checkpoint, and
``lost_ops`` the commits that completed ``ok`` in that epoch with one of those
versions (by epoch rather than by time: a loaded process may apply a crash
well after the controller asked for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kvs_sim.live.nemesis import Control, as_fault
from kvs_sim.rank import messages as m

log = logging.getLogger("kvs_sim.live")

LEADER_LOOKUPS = 40
"""Checkpoint lookups tried (50 ms apart) while a leader rebuilt in its process is
not yet back."""


def isolate(groups: Mapping[str, str], size: int, crashed: Iterable[int]) -> dict[str, str]:
    """``groups`` with every rank of ``crashed`` moved to a process of its own."""
    from kvs_sim.live.ranks import format_ranks, parse_ranks

    alone = sorted(set(crashed))
    out: dict[str, str] = {}
    for g, spec in groups.items():
        rest = [r for r in parse_ranks(spec, size) if r not in alone]
        if rest:
            out[g] = format_ranks(rest)
    for r in alone:
        out[f"r{r}"] = str(r)
    return out


def bounded(entries: Iterable[Any], until: float) -> list[Any]:
    """The entries of a (possibly endless) schedule that start before ``until``."""
    out = []
    for e in entries:
        if e.at >= until:
            break
        out.append(e)
    return out


class LiveNemeses:
    """Inflict ``entries`` on a running live cluster; ``await run()``, then ``heal_all()``."""

    def __init__(self, up: Any, cluster: Any, control: Control, entries: Sequence[Any]):
        self.up = up
        self.cluster = cluster
        self.control = control
        self.entries = list(entries)
        self.parent = list(cluster.overlay.parent)
        self.recorder = cluster.recorder
        self._active: dict[int, Any] = {}  # record index -> what heals it
        self._tasks: set[asyncio.Task[None]] = set()
        self._healing: set[asyncio.Future[None]] = set()
        """Heals under way (a restart in progress), which heal_all waits for."""
        self._epoch = 0  # the leader's epoch (versions restart in each)
        self._unrecorded = 0

    async def run(self) -> None:
        """Inflict every entry at its time (returns once the last one started)."""
        for e in self.entries:
            delay = e.at - self.cluster.now
            if delay > 0:
                await asyncio.sleep(delay)
            await self.inflict(e)

    async def inflict(self, e: Any) -> None:
        self.start(e)

    def start(self, e: Any) -> None:
        """Inflict entry ``e`` now (``cluster.inject`` calls this directly)."""
        n = e.nemesis
        now = self.cluster.now
        detail = {**n.detail(self.parent), "for": e.duration}
        if n.name == "crash":
            if any(n.rank in what[-1] for what in self._active.values() if what[0] != "fault"):
                return  # already down, as in a simulation
            group = self.up.group_of(n.rank)
            ranks = sorted(self._ranks_of(group))
            if ranks == [n.rank]:  # alone in its process: SIGKILL it
                self.up.kill(group)
                self.cluster.crashed(ranks, process=True)
                index = self._record("crash", now, ranks, {**detail, "restart_after": e.duration})
                self._active[index] = ("crash", group, now, ranks)
            else:  # shares its process: crashed inside it
                fid = self.control.add({"name": "crash", "ranks": [n.rank]})
                self._fence()
                self.cluster.crashed([n.rank])
                detail.update(restart_after=e.duration, in_process=True)
                index = self._record("crash", now, [n.rank], detail)
                self._active[index] = ("rank", fid, now, [n.rank])
        else:
            fid = self.control.add(as_fault(n, self.parent))
            self._fence()
            index = self._record(n.name, now, n.affected(self.parent), detail)
            self._active[index] = ("fault", fid, now, [])
        if e.duration is not None:
            task = asyncio.ensure_future(self._heal_later(index, e.duration))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _fence(self) -> None:
        """The scenario's next requests wait until every rank process applies the
        fault just published (the broker keeps no order between the controller's
        connection and the clients')."""
        fence = getattr(self.cluster, "fence", None)
        if fence is not None:
            fence(self.control.applied())

    def _ranks_of(self, group: str) -> list[int]:
        from kvs_sim.live.ranks import parse_ranks

        return parse_ranks(self.up.groups[group], self.up.size)

    def _record(self, name: str, start: float, ranks: Iterable[int], detail: Any) -> int:
        if self.recorder is None:
            self._unrecorded += 1
            return -self._unrecorded
        return int(self.recorder.nemesis(name=name, start=start, ranks=ranks, detail=detail))

    async def _heal_later(self, index: int, delay: float) -> None:
        await asyncio.sleep(delay)
        # Once begun, a heal runs to its end even if this task is cancelled
        # (heal_all waits for it): a half-done restart would leave its entry
        # neither active nor healed, and the rank not yet taking requests.
        healing = asyncio.ensure_future(self.heal(index))
        self._healing.add(healing)
        healing.add_done_callback(self._healing.discard)
        await asyncio.shield(healing)

    async def heal(self, index: int) -> None:
        entry = self._active.pop(index, None)
        if entry is None:
            return
        kind, what, _, ranks = entry
        healing = self.cluster.now  # nothing of the new epoch exists before this
        if kind == "crash":
            await asyncio.to_thread(self.up.start_group, what)
            self.cluster.restarted(ranks)
        else:
            self.control.heal(what)
        if self.recorder is not None:
            self.recorder.heal(index, time=self.cluster.now)
        if kind != "fault" and 0 in ranks:
            await self._leader_back(index, healing)

    async def heal_all(self) -> None:
        """At the end of the run: heal what is still active (crashed ranks restart)."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._healing:  # heals already under way: let them finish
            await asyncio.gather(*self._healing)
        for index in sorted(self._active):
            await self.heal(index)

    async def _resumed_root(self, epoch: int) -> int | None:
        """The version the leader of ``epoch`` reported resuming from (its engine
        reports it as it builds the leader; None if no report came)."""
        if self.recorder is None:
            return None
        for _ in range(20):
            mine = [r for r in self.recorder.history().roots if r.rank == 0 and r.epoch == epoch]
            if mine:
                return min(mine, key=lambda r: r.time).version
            await asyncio.sleep(0.025)
        return None

    def _resumed_at(self, epoch: int, healing: float) -> float:
        """When to date the restarted leader's first root: after every root rank 0
        reported in the epoch that crashed (a loaded process applies a crash late,
        so some may come after ``healing``) and before any of the new epoch."""
        if self.recorder is None:
            return healing
        mine = [r for r in self.recorder.history().roots if r.rank == 0]
        t = max([healing, *(r.time for r in mine if r.epoch == self._epoch)])
        later = [r.time for r in mine if r.epoch == epoch]
        return min([t, *later])

    async def _leader_back(self, index: int, healing: float) -> None:
        """Amend a leader crash's record with its checkpoint and what was lost: the
        versions rank 0 reported in the epoch that crashed above the checkpoint,
        and the commits acknowledged with one of them in that epoch."""
        client = self.cluster.client
        reply = None
        for _ in range(LEADER_LOOKUPS):
            try:
                reply = await client.request(lambda c: m.CheckpointLookupReq(client=c), rank=0)
            except TimeoutError:
                break
            if reply.errnum != errno.ECONNRESET:
                break
            reply = None  # the heal has not reached its process yet
            await asyncio.sleep(0.05)
        if reply is None:
            log.warning("the restarted leader did not answer its checkpoint lookup")
            return
        cp = reply.value if isinstance(reply.value, dict) and not reply.errnum else {}
        # No checkpoint yet (ENOENT, as Flux answers): it resumed from the start
        # mark, version 0, in the epoch after the one that crashed.
        seq, epoch = int(cp.get("sequence", 0)), int(cp.get("epoch", self._epoch + 1))
        resumed = await self._resumed_root(epoch)
        if resumed is not None:  # its own report: the checkpoint may have moved since
            seq = resumed
        else:
            self.cluster.leader_resumed(epoch, seq, self._resumed_at(epoch, healing))
        lost_versions: list[int] = []
        lost_ops: list[int] = []
        if self.recorder is not None:
            h = self.recorder.history()
            # By epoch, not by time: a loaded process may apply the crash well after
            # the controller asked for it, and its leader commits until then.
            lost_versions = sorted(
                {
                    r.version
                    for r in h.roots
                    if r.rank == 0 and r.epoch == self._epoch and r.version > seq
                }
            )
            lost = set(lost_versions)
            lost_ops = [
                o.id
                for o in h.ops
                if o.op == "commit" and o.ok and o.epoch == self._epoch and o.version in lost
            ]
            self.recorder.amend(
                index,
                {
                    "checkpoint": seq,
                    "epoch": epoch,
                    "lost_versions": lost_versions,
                    "lost_ops": lost_ops,
                },
            )
        self._epoch = epoch


def crashed_ranks(entries: Iterable[Any]) -> Iterator[int]:
    """Ranks a schedule crashes (to give each a process of its own)."""
    for e in entries:
        if e.nemesis.name == "crash":
            yield e.nemesis.rank
