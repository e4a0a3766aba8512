"""Running a nemesis schedule on live ranks (``kvs-sim run --live`` with nemeses).

Theory of operation
-------------------
:class:`LiveNemeses` takes the same :mod:`kvs_sim.nemesis` schedule a simulation
takes (entries ``at`` t ``for`` d, possibly an endless random process) and
inflicts each entry on the running cluster at its time on the run's clock:

* ``crash`` SIGKILLs the ``kvs-sim up`` process hosting the rank and starts the
  same command again ``d`` later (never, without a duration: then at the end of
  the run, so convergence can be judged).  Every rank of that process crashes:
  :func:`isolate` gives each crashed rank a process of its own beforehand, so a
  crash takes exactly the rank the schedule names;
* every other nemesis is published through a :class:`~kvs_sim.live.nemesis.Control`
  and applied by the rank processes (:mod:`kvs_sim.live.faults`), then healed.

Each entry is recorded as one nemesis interval in the history (``Recorder.nemesis``
when inflicted, ``heal`` when healed; times are the controller's, a millisecond or
so before the rank processes act).  A leader crash's record is amended, once the
restarted leader answers, with what it resumed from and what was lost:
``checkpoint`` and ``epoch`` from its checkpoint, ``lost_versions`` the versions
rank 0 had reported after that checkpoint, and ``lost_ops`` the commits that
completed ``ok`` with one of those versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kvs_sim.live.nemesis import Control, as_fault
from kvs_sim.rank import messages as m

log = logging.getLogger("kvs_sim.live")


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
        self._epoch_start = 0.0
        self._unrecorded = 0

    async def run(self) -> None:
        """Inflict every entry at its time (returns once the last one started)."""
        for e in self.entries:
            delay = e.at - self.cluster.now
            if delay > 0:
                await asyncio.sleep(delay)
            await self.inflict(e)

    async def inflict(self, e: Any) -> None:
        n = e.nemesis
        now = self.cluster.now
        if n.name == "crash":
            group = self.up.group_of(n.rank)
            ranks = sorted(self._ranks_of(group))
            self.up.kill(group)
            self.cluster.crashed(ranks)
            index = self._record("crash", now, ranks, {"restart_after": e.duration})
            self._active[index] = ("crash", group, now)
        else:
            fid = self.control.add(as_fault(n, self.parent))
            index = self._record(n.name, now, n.affected(self.parent), n.detail(self.parent))
            self._active[index] = ("fault", fid, now)
        if e.duration is not None:
            task = asyncio.ensure_future(self._heal_later(index, e.duration))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
        await self.heal(index)

    async def heal(self, index: int) -> None:
        entry = self._active.pop(index, None)
        if entry is None:
            return
        kind, what, started = entry
        if kind == "fault":
            self.control.heal(what)
        else:
            await asyncio.to_thread(self.up.start_group, what)
        if self.recorder is not None:
            self.recorder.heal(index, time=self.cluster.now)
        if kind == "crash" and 0 in self._ranks_of(what):
            await self._leader_back(index, started)

    async def heal_all(self) -> None:
        """At the end of the run: heal what is still active (crashed ranks restart)."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for index in sorted(self._active):
            await self.heal(index)

    async def _leader_back(self, index: int, crashed_at: float) -> None:
        """Amend a leader crash's record with its checkpoint and what was lost."""
        client = self.cluster.client
        try:
            reply = await client.request(lambda c: m.CheckpointLookupReq(client=c), rank=0)
        except TimeoutError:
            log.warning("the restarted leader did not answer its checkpoint lookup")
            return
        cp = reply.value if isinstance(reply.value, dict) else {}
        seq, epoch = int(cp.get("sequence", 0)), int(cp.get("epoch", 0))
        self.cluster.leader_resumed(epoch, seq)
        lost_versions: list[int] = []
        lost_ops: list[int] = []
        if self.recorder is not None:
            h = self.recorder.history()
            lost_versions = sorted(
                {
                    r.version
                    for r in h.roots
                    if r.rank == 0 and self._epoch_start <= r.time <= crashed_at and r.version > seq
                }
            )
            lost = set(lost_versions)
            lost_ops = [
                o.id
                for o in h.ops
                if o.op == "commit"
                and o.ok
                and o.version in lost
                and o.complete is not None
                and self._epoch_start <= o.complete <= crashed_at
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
        self._epoch_start = self.cluster.now


def crashed_ranks(entries: Iterable[Any]) -> Iterator[int]:
    """Ranks a schedule crashes (to give each a process of its own)."""
    for e in entries:
        if e.nemesis.name == "crash":
            yield e.nemesis.rank
