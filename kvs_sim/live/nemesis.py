"""Inflicting nemeses on a live cluster: the controller side.

Theory of operation
-------------------
Two kinds of fault, two mechanisms:

* **Signals to rank processes.**  ``crash`` is a SIGKILL of the process hosting a
  rank (every rank of that process crashes with it: its caches, queues and
  pending requests are gone, the broker keeps its session's messages), and a
  restart of the same command line; ``stop`` is SIGSTOP, later SIGCONT, of that
  process (everything in it freezes).  The process is found from its retained
  status (``{"ranks", "pid"}``), so this works on processes on this host only.
  A restart by hand re-runs the dead process's command line, read from
  ``/proc/<pid>/cmdline`` before the kill, in its working directory, detached,
  its output appended to ``up-<ranks>.log`` there.
* **Faults the rank processes apply themselves** (``partition``, ``pause``,
  ``slow``, ``spike``, ``loss``): :class:`Control` keeps the set of active ones
  and publishes it, retained, on the cluster's nemesis topic, which every rank
  process follows (:mod:`kvs_sim.live.faults`).  Each fault has an id (``n1``,
  ``n2``...) by which it is healed.  Each payload is named (this controller's
  id and a counter), and every rank process's retained status names the last
  one it applied, so :meth:`Control.applied` can wait until a fault is in
  effect in every process that is up.  ``kvs-sim run --live`` waits so before
  the scenario's next request leaves (:meth:`kvs_sim.live.cluster.LiveCluster.fence`):
  the controller's connection and the clients' are different, and the broker
  keeps no order between them, so without it a request sent right after
  ``inject`` could reach its rank, and its consequences (a setroot) the ranks
  the fault cuts off, before the fault did.

:func:`as_fault` turns a :mod:`kvs_sim.nemesis` record into the dict the rank
processes apply, so ``kvs-sim run --live`` and the simulator share one model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kvs_sim.live import credentials as cr
from kvs_sim.live import topics as tp
from kvs_sim.live.faults import encode_state, nemesis_topic
from kvs_sim.live.ranks import format_ranks
from kvs_sim.live.transport import Incoming, Transport

RETAINED_WAIT = 0.3
"""Seconds to wait for retained state (statuses, active faults) after the first
status arrived (at most :data:`STATUS_WAIT` for that one)."""
STATUS_WAIT = 3.0
APPLIED_WAIT = 3.0
"""Seconds :meth:`Control.applied` waits for every rank process (then it warns)."""

log = logging.getLogger("kvs_sim.live")


class NemesisError(Exception):
    """A fault that cannot be inflicted (no such rank process, not on this host)."""


class Control:
    """``async with Control(url, cluster) as c: i = c.add({...}); ...; c.heal(i)``"""

    def __init__(self, url: str | tp.BrokerURL, cluster: str, *, ca_file: str | None = None):
        parsed = url if isinstance(url, tp.BrokerURL) else tp.parse_url(url)
        # Faults are an operator's tool: the controller logs in as the ranks do.
        self.url, found_ca = cr.login(parsed, cluster, cr.RANKS)
        self.cluster = cluster
        self.active: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self._topic = nemesis_topic(cluster)
        self._seen = asyncio.Event()
        self._uid = uuid.uuid4().hex[:8]
        self._states = 0
        self.state: str | None = None
        """The name of the nemesis state this controller published last."""
        self._status_changed = asyncio.Event()
        self.transport = Transport(
            self.url,
            client_id=f"kvs-sim-nemesis-{cluster}-{self._uid}",
            subscriptions=[self._topic, tp.status_filter(cluster)],
            on_message=self._on_message,
            persistent=False,
            ca_file=ca_file or found_ca,
        )

    async def __aenter__(self) -> Control:
        await self.transport.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STATUS_WAIT
        while not self.statuses and loop.time() < deadline:  # a loaded machine is slow
            await asyncio.sleep(0.02)
        await asyncio.sleep(RETAINED_WAIT)  # the other retained statuses and faults
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.flush(5)
        await self.transport.close()

    def _on_message(self, inc: Incoming) -> None:
        try:
            doc = json.loads(inc.payload) if inc.payload else {}
        except ValueError:
            return
        if inc.topic == self._topic:
            if not self._seen.is_set():
                self._seen.set()
                for f in doc.get("active", ()):
                    self.active[str(f.get("id"))] = dict(f)
        else:
            self.statuses[inc.topic.rsplit("/", 1)[-1]] = doc
            self._status_changed.set()

    # -- faults the rank processes apply -----------------------------------------------

    def add(self, fault: Mapping[str, Any]) -> str:
        """Make ``fault`` (``{"name": "partition", "links": ..., "mode": ...}``)
        active in every rank process; returns its id."""
        n = 1 + max((int(i[1:]) for i in self.active if i[1:].isdigit()), default=0)
        ident = f"n{n}"
        self.active[ident] = {"id": ident, **fault}
        self._publish()
        return ident

    def heal(self, ident: str | None = None) -> list[str]:
        """Heal fault ``ident`` (None: all); returns the ids healed."""
        if ident is None:
            healed = list(self.active)
        elif ident in self.active:
            healed = [ident]
        else:
            raise NemesisError(f"no active fault {ident!r} (active: {', '.join(self.active)})")
        for i in healed:
            del self.active[i]
        self._publish()
        return healed

    def _publish(self) -> None:
        self._states += 1
        self.state = f"{self._uid}/{self._states}"
        payload = encode_state(self.active.values(), self.state)
        self.transport.publish(self._topic, payload, qos=1, retain=True)

    def _behind(self, n: int) -> list[str]:
        """Processes that are up and have not applied this controller's state ``n``
        (or a later one) yet."""
        out = []
        for cid, status in self.statuses.items():
            if status.get("state") != "up":
                continue
            uid, _, k = str(status.get("nemesis") or "").partition("/")
            if uid != self._uid or not k.isdigit() or int(k) < n:
                out.append(cid)
        return out

    async def applied(self, timeout: float = APPLIED_WAIT) -> bool:
        """Wait until every rank process that is up applied the state published
        last (its status names it); False, with a warning, after ``timeout``."""
        if self.state is None:
            return True
        n = self._states
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while behind := self._behind(n):
            left = deadline - loop.time()
            if left <= 0:
                log.warning(
                    "nemesis state %s not applied by %s after %g s; going on",
                    self.state,
                    ", ".join(sorted(behind)),
                    timeout,
                )
                return False
            self._status_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), left)
        return True

    # -- rank processes --------------------------------------------------------------

    def process_of(self, rank: int) -> tuple[int, list[int]]:
        """(pid, ranks) of the live process hosting ``rank`` (NemesisError if none)."""
        for status in self.statuses.values():
            ranks = [int(r) for r in status.get("ranks", ())]
            if rank in ranks and status.get("state") == "up":
                return int(status["pid"]), ranks
        raise NemesisError(f"no running rank process hosts rank {rank} of {self.cluster!r}")


def as_fault(nemesis: Any, parent: Sequence[int]) -> dict[str, Any]:
    """The dict rank processes apply for a :mod:`kvs_sim.nemesis` record."""
    name = nemesis.name
    detail = dict(nemesis.detail(parent))
    if name in {"pause", "slow"}:
        return {"name": name, "ranks": [nemesis.rank], **detail}
    return {"name": name, **detail}


# -- signals ---------------------------------------------------------------------------


def command_of(pid: int) -> tuple[list[str], str]:
    """The command line and working directory of process ``pid`` (this host)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError as exc:
        raise NemesisError(f"cannot read process {pid} (not on this host?): {exc}") from None
    return [a.decode() for a in raw.split(b"\0") if a], cwd


def kill(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise NemesisError(f"process {pid} is gone") from None
    except PermissionError:
        raise NemesisError(f"not allowed to signal process {pid}") from None


def respawn(cmd: list[str], cwd: str, ranks: Sequence[int]) -> subprocess.Popen[bytes]:
    """Start ``cmd`` again in ``cwd``, detached, output to ``up-<ranks>.log`` there."""
    log = Path(cwd) / f"up-{format_ranks(ranks)}.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
